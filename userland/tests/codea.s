# Program A of reuse.s: exits 0x41, from an immediate in its code.
    mov ebx, 0x41
    mov eax, SYS_EXIT
    int 0x80
