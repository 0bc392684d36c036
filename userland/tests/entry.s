# The state at entry (docs/abi.md): EAX = the spawn argument, the other general
# registers 0, ESP = 0xC0000000, EFLAGS = 0x202, CPL 3. Exits with the
# argument when all of that holds, else with 1000 + the check's number.
    mov [arg], eax
    pushfd                      # before any instruction that sets flags
    pop dword ptr [eflags_at_entry]
    mov eax, 1001
    test ebx, ebx
    jnz fail
    inc eax
    test ecx, ecx
    jnz fail
    inc eax
    test edx, edx
    jnz fail
    inc eax
    test esi, esi
    jnz fail
    inc eax
    test edi, edi
    jnz fail
    inc eax
    test ebp, ebp
    jnz fail
    inc eax
    cmp esp, 0xC0000000
    jne fail
    inc eax
    cmp dword ptr [eflags_at_entry], 0x202
    jne fail
    inc eax
    mov bx, cs
    and ebx, 3
    cmp ebx, 3
    jne fail
    mov ebx, [arg]
    mov eax, SYS_EXIT
    int 0x80
fail:
    mov ebx, eax
    mov eax, SYS_EXIT
    int 0x80
arg: .long 0
eflags_at_entry: .long 0
