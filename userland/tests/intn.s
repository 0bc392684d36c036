# Executes `int N` for N = the spawn argument, by patching the immediate of
# an int instruction. At CPL 3 every N but 0x80 must be a #GP (status 269),
# whatever exception vector N names. See allints.c.
    mov byte ptr [slot + 1], al
    jmp slot
slot:
    .byte 0xcd, 0x00
    mov ebx, 1                  # not reached
    mov eax, SYS_EXIT
    int 0x80
