# Run two or more of these at once: each writes its pid into its own image
# page and its own stack page at the same virtual addresses as the others,
# yields, and checks it still reads its own pid. A stale TLB entry after a
# process switch (docs/unicorn.md fact 3) would show another's. Exits 0 if not.
    mov eax, SYS_GETPID
    int 0x80
    mov edi, eax
    mov esi, 50
again:
    mov [slot], edi
    mov [0xBFFFF000], edi
    mov eax, SYS_YIELD
    int 0x80
    cmp [slot], edi
    jne fail
    cmp [0xBFFFF000], edi
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
slot: .long 0
