# One CPU exception per spawn argument (EAX at entry selects the case).
# Each case must kill this process with the status docs/abi.md gives; the
# driver isolation.c spawns every case and checks each status, and
# tests/test_isolation.py checks each fault report. Case numbers are the
# table index; an argument past the table exits 99.

    cmp eax, NCASES
    jae bad_case
    jmp [cases + eax*4]
bad_case:
    mov ebx, 99
    mov eax, SYS_EXIT
    int 0x80

cases:
    .long null_read, null_write, kernel_read, kernel_write, kernel_jump
    .long do_cli, do_hlt, in_dx, out_dx, mov_cr3
    .long int_0e, int3_short, int3_long, int_81, into_of
    .long do_ud2, bad_opcode, div_zero, idiv_overflow, stack_overflow
    .long in_imm, do_insb, do_outsb, int_08, int_00
    .long int_06, do_lgdt, do_invlpg, user_jump, pf_then_divide
    .long into_no_of, pf_then_int0e, do_syscall, do_sysenter
cases_end:
.equ NCASES, 34

null_read:      mov eax, [0]
null_write:     mov dword ptr [0], 1
kernel_read:    mov eax, [0xC0000000]
kernel_write:   mov [0xC0001234], eax
kernel_jump:
    mov eax, 0xC0000000
    jmp eax
do_cli:         cli
do_hlt:         hlt
in_dx:          in al, dx
out_dx:         out dx, al
mov_cr3:        mov cr3, eax
int_0e:         int 0x0e
int3_short:     int3
int3_long:      .byte 0xcd, 0x03
int_81:         int 0x81
into_of:
    mov al, 0x7f
    add al, 1
    into
do_ud2:         ud2
bad_opcode:     .byte 0xfe, 0xf8
div_zero:
    xor ecx, ecx
    div ecx
idiv_overflow:
    mov eax, 0x80000000
    cdq
    mov ecx, -1
    idiv ecx
# Sixteen handled demand-zero faults, one per stack page, then a fatal one
# at 0xBFFEFFFC: it must still arrive as a plain page fault.
stack_overflow:
    push eax
    jmp stack_overflow
in_imm:         in al, 0x60
do_insb:
    mov edi, 0xBFFFF000
    insb
do_outsb:
    mov esi, 0x00400000
    outsb
int_08:         int 0x08
int_00:         int 0x00
int_06:         int 0x06
do_lgdt:        lgdt [0x00400000]
do_invlpg:      invlpg [0x00400000]
user_jump:
    mov eax, 0x00800000
    jmp eax
# A handled fault (a fresh stack page) then a divide error: vector 0, not 8.
pf_then_divide:
    push eax
    mov dword ptr [0xBFFF8000], 1
    xor ecx, ecx
    div ecx
# into with OF clear does not trap: this case exits 0.
into_no_of:
    xor eax, eax
    into
    mov ebx, 0
    mov eax, SYS_EXIT
    int 0x80
pf_then_int0e:
    mov dword ptr [0xBFFF4000], 1
    push eax
    int 0x0e
# Unicorn runs these as no-ops; with EFER.SCE = 0 and SYSENTER_CS = 0 the
# hardware raises #UD and #GP(0).
do_syscall:     syscall
do_sysenter:    sysenter
