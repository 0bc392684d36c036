# CPU-bound: 12 rounds of a 30000-iteration loop, printing "<pid>:<round>\n"
# after each, then exits 0. Two of them under --quantum interleave their
# lines the same way on every run (test_cli.py).
    mov eax, SYS_GETPID
    int 0x80
    add al, 0x30
    mov [line], al
    mov esi, 0
round:
    mov ecx, 30000
spin:
    imul edx, ecx, 7
    add edi, edx
    dec ecx
    jnz spin
    mov eax, esi
    add al, 0x61
    mov [line + 2], al
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [line]
    mov edx, 4
    int 0x80
    inc esi
    cmp esi, 12
    jb round
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
line: .ascii "?:?\n"
