# fork until it fails; exit with fork's error (-EAGAIN: table full,
# -ENOMEM: no frame for a child's directory or tables). The children write
# no memory at all (no copy-on-write break: each costs exactly its
# directory and tables); they sleep on a futex word in a shm segment every
# child inherits, until the parent sets it and wakes them all.
    mov eax, SYS_SHM_CREATE
    xor ebx, ebx
    mov ecx, 4096
    mov edx, 0x180
    int 0x80
    mov edi, eax
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    xor ecx, ecx
    xor edx, edx
    int 0x80
    mov esi, eax
    mov eax, SYS_SHM_DESTROY        # its frame goes with the last detach
    mov ebx, edi
    int 0x80
    mov dword ptr [esi], 0
again:
    mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz child
    cmp eax, 0xFFFFF000
    jbe again
    mov ebp, eax
    mov dword ptr [esi], 1
    mov eax, SYS_FUTEX_WAKE
    mov ebx, esi
    mov ecx, 0x7FFFFFFF
    int 0x80
reap:
    mov eax, SYS_WAIT
    mov ebx, -1
    xor ecx, ecx
    int 0x80
    cmp eax, 0xFFFFF000
    jbe reap
    mov ebx, ebp
    mov eax, SYS_EXIT
    int 0x80
child:
    mov eax, SYS_FUTEX_WAIT
    mov ebx, esi
    xor ecx, ecx
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
