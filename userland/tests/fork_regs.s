# fork copies every register but EAX, EFLAGS included (docs/abi.md): the parent
# sets EBX..EBP, ESP and EFLAGS to patterns and forks; each side compares
# them after the call. The child exits 0 when all hold (else 10 + register
# index: 1 ebx .. 6 ebp, 7 esp, 8 eflags, 9 eax not 0); the parent waits,
# checks its own the same way (20 + index) and exits with the child's
# status.
.equ FL_A, 0x240ED7     # ID AC OF DF IF SF ZF AF PF CF
.equ ESP_A, 0xBFFFF7F3

    mov [saved_esp], esp
    mov esp, ESP_A
    push FL_A
    popfd
    mov ebx, 0x11111111
    mov ecx, 0x22222222
    mov edx, 0x33333333
    mov esi, 0x44444444
    mov edi, 0x55555555
    mov ebp, 0x66666666
    mov eax, SYS_FORK
    int 0x80
    mov [r_val], eax
    pushfd
    pop eax
    mov [fl_val], eax
    mov [got_esp], esp
    mov esp, [saved_esp]
    cld
    mov eax, 0
    cmp ebx, 0x11111111
    jne bad1
    cmp ecx, 0x22222222
    jne bad2
    cmp edx, 0x33333333
    jne bad3
    cmp esi, 0x44444444
    jne bad4
    cmp edi, 0x55555555
    jne bad5
    cmp ebp, 0x66666666
    jne bad6
    cmp dword ptr [got_esp], ESP_A
    jne bad7
    cmp dword ptr [fl_val], FL_A
    jne bad8
    cmp dword ptr [r_val], 0
    je child_ok
    jl bad9                  # fork failed
    mov ebx, [r_val]           # the parent: wait for the child
    lea ecx, [status]
    mov eax, SYS_WAIT
    int 0x80
    mov ebx, [status]
    mov eax, SYS_EXIT
    int 0x80
child_ok:
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
bad1: mov eax, 1
    jmp bad
bad2: mov eax, 2
    jmp bad
bad3: mov eax, 3
    jmp bad
bad4: mov eax, 4
    jmp bad
bad5: mov eax, 5
    jmp bad
bad6: mov eax, 6
    jmp bad
bad7: mov eax, 7
    jmp bad
bad8: mov eax, 8
    jmp bad
bad9: mov eax, 9
bad:
    mov ebx, 10
    cmp dword ptr [r_val], 0
    je exit_bad
    mov ebx, 20
exit_bad:
    add ebx, eax
    mov eax, SYS_EXIT
    int 0x80
.align 4
saved_esp: .long 0
got_esp: .long 0
fl_val: .long 0
r_val: .long 0
status: .long -1
