# A write through a SHM_RDONLY attachment: the PTE has R/W clear, so the
# CPU raises #PF with error code 7 (user, write, protection): status 270.
# EAX = the spawn argument: 0 writes to a page the read-only mapping has
# already read (present), 1 to a page it never touched (not present, 6).
# The segment is destroyed first: the kill's detach frees it.
    mov ebp, eax
    mov eax, SYS_SHM_CREATE
    mov ebx, 0
    mov ecx, 8192
    mov edx, 0x180
    int 0x80
    mov esi, eax
    mov ebx, esi
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov edi, eax
    mov dword ptr [edi], 0x55
    mov ebx, esi
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, SHM_RDONLY
    int 0x80
    mov edi, eax
    mov ebx, esi
    mov eax, SYS_SHM_DESTROY
    int 0x80
    mov eax, edi
    mov ecx, [eax]
    cmp ecx, 0x55
    jne broken
    cmp ebp, 0
    je present
    mov dword ptr [eax+4096], 1
present:
    mov dword ptr [eax], 1
broken:
    mov ebx, 1
    mov eax, SYS_EXIT
    int 0x80
