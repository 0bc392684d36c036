# Use after detach: touch a page, detach, touch it again. The second touch
# must fault (status 270, cr2 = the page) although the TLB held the
# translation a moment before: detach flushes it.
    mov eax, SYS_SHM_CREATE
    mov ebx, 0
    mov ecx, 4096
    mov edx, 0x180
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov edi, eax
    mov dword ptr [edi], 7
    mov eax, [edi]
    mov eax, SYS_SHM_DESTROY
    int 0x80
    mov eax, SYS_SHM_DETACH
    mov ebx, edi
    int 0x80
    cmp eax, 0
    jne broken
    mov eax, [edi]
broken:
    mov ebx, 1
    mov eax, SYS_EXIT
    int 0x80
