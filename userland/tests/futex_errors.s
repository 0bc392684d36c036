# futex_wait/futex_wake argument checks: alignment (-EINVAL) before the
# address (-EFAULT); a value that differs (-EAGAIN); waking nobody.
.include "check.inc"
.equ UNMAPPED, 0x10000000
.equ STACK_LOW, 0xBFFF0000          # the stack's lowest page: never touched
    mov eax, SYS_FUTEX_WAIT; lea ebx, [word]; add ebx, 2; mov ecx, 5
    int 0x80
    EXPECT_ERR EINVAL                   # 1: unaligned
    mov eax, SYS_FUTEX_WAKE; lea ebx, [word]; add ebx, 1; mov ecx, 1
    int 0x80
    EXPECT_ERR EINVAL                   # 2: unaligned wake
    mov eax, SYS_FUTEX_WAIT; mov ebx, UNMAPPED+2; mov ecx, 0
    int 0x80
    EXPECT_ERR EINVAL                   # 3: alignment is checked first
    mov eax, SYS_FUTEX_WAIT; mov ebx, UNMAPPED; mov ecx, 0
    int 0x80
    EXPECT_ERR EFAULT                   # 4: unmapped
    mov eax, SYS_FUTEX_WAKE; mov ebx, UNMAPPED; mov ecx, 1
    int 0x80
    EXPECT_ERR EFAULT                   # 5: unmapped wake
    mov eax, SYS_FUTEX_WAIT; mov ebx, 0xC0000000; mov ecx, 0
    int 0x80
    EXPECT_ERR EFAULT                   # 6: kernel half
    mov eax, SYS_FUTEX_WAKE; mov ebx, 0xFFFFFFFC; mov ecx, 1
    int 0x80
    EXPECT_ERR EFAULT                   # 7: kernel half, last word
    mov eax, SYS_FUTEX_WAIT; mov ebx, 0; mov ecx, 0
    int 0x80
    EXPECT_ERR EFAULT                   # 8: null
    mov eax, SYS_FUTEX_WAIT; lea ebx, [word]; mov ecx, 4
    int 0x80
    EXPECT_ERR EAGAIN                   # 9: the word holds 5, not 4
    mov eax, SYS_FUTEX_WAKE; lea ebx, [word]; mov ecx, 0
    int 0x80
    EXPECT 0                            # 10: n = 0 wakes nobody
    mov eax, SYS_FUTEX_WAKE; lea ebx, [word]; mov ecx, 0xFFFFFFFF
    int 0x80
    EXPECT 0                            # 11: n is unsigned; nobody sleeps
    mov eax, SYS_FUTEX_WAIT; mov ebx, STACK_LOW; mov ecx, 1
    int 0x80
    EXPECT_ERR EAGAIN                   # 12: a demand-zero page reads 0
    mov eax, SYS_FUTEX_WAKE; mov ebx, STACK_LOW+4092; mov ecx, 1
    int 0x80
    EXPECT 0                            # 13
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
    CHECK_TAIL
word: .long 5
