# A bystander: yields 300 times while other processes die around it, and
# checks each time that its pid and its loop counter survived. Exits 0.
    mov eax, SYS_GETPID
    int 0x80
    mov edi, eax
    mov esi, 300
again:
    mov eax, SYS_YIELD
    int 0x80
    test eax, eax
    jnz fail
    mov eax, SYS_GETPID
    int 0x80
    cmp eax, edi
    jne fail
    dec esi
    jnz again
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
fail:
    mov ebx, 1
    mov eax, SYS_EXIT
    int 0x80
