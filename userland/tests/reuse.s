# A program loaded into frames that held another program's code runs its
# own code (docs/unicorn.md fact 2). Spawn codea, let it exit, then spawn codeb
# at the same virtual address: the kernel hands out the lowest free frame
# first, so codeb, built in the same order, gets codea's frames and its
# code page lands in the frame codea's code ran from (test_isolation.py
# checks that precondition). Exits 0 when codeb's exit status says B.
    mov dword ptr [0xBFFFFFFC], 0     # stack page and its table, up front
    lea ebx, [name_a]
    call run_child
    cmp dword ptr [status], 0x41
    jne fail
    lea ebx, [name_b]
    call run_child
    cmp dword ptr [status], 0x42
    jne fail
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
fail:
    mov ebx, [status]
    mov eax, SYS_EXIT
    int 0x80

# spawn(ebx = 5-byte name, arg 0), then wait for it into [status].
run_child:
    mov ecx, 5
    xor edx, edx
    mov eax, SYS_SPAWN
    int 0x80
    mov ebx, eax
    lea ecx, [status]
    mov eax, SYS_WAIT
    int 0x80
    ret

name_a: .ascii "codea"
name_b: .ascii "codeb"
status: .long -1
