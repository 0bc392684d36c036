# Program B of reuse.s: the same layout as codea.s, but its immediates say
# B: it prints "B!\n" and exits 0x42. Old translated code of A would not.
    mov ebx, 0x42
    push 0x000a2142
    mov ecx, esp
    mov edx, 3
    mov ebx, 1
    mov eax, SYS_WRITE
    int 0x80
    mov ebx, 0x42
    mov eax, SYS_EXIT
    int 0x80
