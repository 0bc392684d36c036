# Every register but EAX, ESP, EBP and EFLAGS included, survives every
# call (docs/abi.md), on success and on error paths, blocking or not. Each row
# of the table sets EAX..EBP, ESP and EFLAGS to patterns, makes the call,
# and compares everything after it; EAX must be the row's expected result.
# Exits 0 when all rows hold, else 1000 + 10 * row + register index
# (0 eax, 1 ebx, 2 ecx, 3 edx, 4 esi, 5 edi, 6 ebp, 7 esp, 8 eflags).
# Boot it with spinner.s (pid 2), so yield and wait really switch.
.equ FL_A, 0x240ED7     # ID AC OF DF IF SF ZF AF PF CF
.equ FL_B, 0x000202     # IF only
.equ ESP_A, 0xBFFFF7F3
.equ ESP_B, 0xBFFF8002
.equ ROW, 40

    lea esi, [table]
next_row:
    cmp esi, table_end
    jae all_ok
    call do_call
    add esi, ROW
    jmp next_row
all_ok:
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80

do_call:
    mov [row], esi
    mov [saved_esp], esp
    mov esp, [esi + 28]
    push dword ptr [esi + 32]
    popfd
    mov eax, [esi]
    mov ebx, [esi + 4]
    mov ecx, [esi + 8]
    mov edx, [esi + 12]
    mov edi, [esi + 20]
    mov ebp, [esi + 24]
    mov esi, [esi + 16]
    int 0x80
    pushfd
    mov [after], eax
    mov [after + 4], ebx
    mov [after + 8], ecx
    mov [after + 12], edx
    mov [after + 16], esi
    mov [after + 20], edi
    mov [after + 24], ebp
    pop dword ptr [after + 32]
    mov [after + 28], esp
    mov esp, [saved_esp]
    push FL_B
    popfd
    mov esi, [row]
    mov ecx, 1
compare:
    mov eax, [after + ecx*4]
    cmp eax, [esi + ecx*4]
    jne mismatch
    inc ecx
    cmp ecx, 9
    jb compare
    xor ecx, ecx
    mov eax, [after]
    cmp eax, [esi + 36]
    jne mismatch
    ret
mismatch:                       # exit(1000 + 10 * row + ecx)
    mov eax, esi
    sub eax, table
    xor edx, edx
    mov ebx, 4
    div ebx                     # 10 * row
    lea ebx, [eax + ecx + 1000]
    mov eax, SYS_EXIT
    int 0x80

row:        .long 0
saved_esp:  .long 0
after:      .long 0, 0, 0, 0, 0, 0, 0, 0, 0
status:     .long 0
msg:        .ascii "regs"
name_a:     .ascii "codea"
nosuch:     .ascii "nosuch"

# eax, ebx, ecx, edx, esi, edi, ebp, esp, eflags, expected eax
table:
.long SYS_WRITE, 1, msg, 4, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 4
.long SYS_WRITE, 1, msg, 4, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 4
.long SYS_WRITE, 7, msg, 4, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, -EBADF
.long SYS_WRITE, 1, 0xBFFFFFFE, 4, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, -EFAULT
.long SYS_GETPID, 0x12345678, 0x9ABCDEF0, 0x0F0F0F0F, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 1
.long SYS_GETPID, 0xEDCBA987, 0x65432110, 0xF0F0F0F0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 1
.long SYS_YIELD, 0x12345678, 0x9ABCDEF0, 0x0F0F0F0F, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 0
.long SYS_YIELD, 0xEDCBA987, 0x65432110, 0xF0F0F0F0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 0
.long SYS_SPAWN, name_a, 5, 0x77, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 3
.long SYS_WAIT, 3, status, 0xF0F0F0F0, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 3
.long SYS_SPAWN, name_a, 5, 0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 4
.long SYS_WAIT, -1, 0, 0x0F0F0F0F, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 4
.long SYS_WAIT, -1, status, 0xF0F0F0F0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, -ECHILD
.long SYS_SPAWN, nosuch, 6, 0, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, -ENOENT
.long SYS_GETUID, 0x12345678, 0x9ABCDEF0, 0x0F0F0F0F, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 0
.long SYS_SETUID, 0, 0x9ABCDEF0, 0x0F0F0F0F, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 0
.long SYS_SETUID, 5, 0x65432110, 0xF0F0F0F0, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, 0
.long SYS_SETUID, 6, 0x9ABCDEF0, 0x0F0F0F0F, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, -EPERM
.long SYS_GETUID, 0xEDCBA987, 0x65432110, 0xF0F0F0F0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, 5
.long 9, 0x12345678, 0x9ABCDEF0, 0x0F0F0F0F, 0x51515151, 0xD1D1D1D1, 0xB5B5B5B5, ESP_A, FL_A, -ENOSYS
.long 0xFFFFFFFF, 0xEDCBA987, 0x65432110, 0xF0F0F0F0, 0xAEAEAEAE, 0x2E2E2E2E, 0x4A4A4A4A, ESP_B, FL_B, -ENOSYS
table_end:
