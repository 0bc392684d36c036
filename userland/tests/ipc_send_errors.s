# send's argument checks, in the documented order: len (-EINVAL), then the
# target (-ESRCH), then the buffer (-EFAULT); a failed send queues nothing.
.include "check.inc"
.equ UNMAPPED, 0x10000000
    mov eax, SYS_GETPID
    int 0x80
    mov [me], eax

    mov eax, SYS_SEND; mov ebx, [me]; lea ecx, [msg]; mov edx, 4097
    int 0x80
    EXPECT_ERR EINVAL                      # 1: len 4097
    mov eax, SYS_SEND; mov ebx, 0; lea ecx, [msg]; mov edx, 4097
    int 0x80
    EXPECT_ERR EINVAL                      # 2: len is checked before pid
    mov eax, SYS_SEND; mov ebx, 0; lea ecx, [msg]; mov edx, 4
    int 0x80
    EXPECT_ERR ESRCH                       # 3: pid 0
    mov eax, SYS_SEND; mov ebx, 999; lea ecx, [msg]; mov edx, 4
    int 0x80
    EXPECT_ERR ESRCH                       # 4: a pid never used
    mov eax, SYS_SEND; mov ebx, -1; lea ecx, [msg]; mov edx, 4
    int 0x80
    EXPECT_ERR ESRCH                       # 5: pid -1
    mov eax, SYS_SEND; mov ebx, 0; mov ecx, UNMAPPED; mov edx, 4
    int 0x80
    EXPECT_ERR ESRCH                       # 6: pid is checked before buffer
    mov eax, SYS_SEND; mov ebx, [me]; mov ecx, UNMAPPED; mov edx, 4
    int 0x80
    EXPECT_ERR EFAULT                      # 7: unmapped buffer
    mov eax, SYS_SEND; mov ebx, [me]; mov ecx, 0xC0000000; mov edx, 4
    int 0x80
    EXPECT_ERR EFAULT                      # 8: kernel-half buffer
    mov eax, SYS_SEND; mov ebx, [me]; mov ecx, 0xBFFFFFFE; mov edx, 4
    int 0x80
    EXPECT_ERR EFAULT                      # 9: runs off the stack's top
    mov eax, SYS_SEND; mov ebx, [me]; mov ecx, 0; mov edx, 0
    int 0x80
    EXPECT 0                            # 10: len 0: nothing to read
    mov eax, SYS_SEND; mov ebx, [me]; lea ecx, [msg]; mov edx, 4096
    int 0x80
    EXPECT 0                            # 11: len 4096 to self

    # the queue holds exactly the two good messages, in order
    mov eax, SYS_RECV; lea ebx, [buf]; mov ecx, 4096; lea edx, [from]
    int 0x80
    EXPECT 0                            # 12: the empty message first
    mov eax, [from]
    EXPECT [me]                         # 13: from self
    mov eax, SYS_RECV; lea ebx, [buf]; mov ecx, 4096; mov edx, 0
    int 0x80
    EXPECT 4096                         # 14
    mov eax, [buf]
    EXPECT [msg]                        # 15: the bytes arrived
    mov eax, SYS_EXIT; mov ebx, 0
    int 0x80
    CHECK_TAIL
me: .long 0
from: .long -1
msg: .ascii "ia32"
    .zero 4092
buf: .zero 4096
