# The assembly locks of sync.inc. Alone (EAX = 0 at entry): the lock words
# go through their states in one process. With EAX = the address of a
# premapped shared page | role (tools/bench/ipc_harness.py): role 1 adds to a
# shared counter ROUNDS times under the futex mutex, role 2 under the
# spinlock; the third process to finish checks the total (3 * ROUNDS).
.include "check.inc"
.equ ROUNDS, 300
.equ MUTEX, 0
.equ SPIN, 4
.equ COUNTER, 8
.equ DONE, 12
    test eax, eax
    jnz shared_run

    lea ebx, [lockword]
    call spin_trylock
    EXPECT 1                            # 1: free, taken
    call spin_trylock
    EXPECT 0                            # 2: held
    call spin_unlock
    call spin_lock
    mov eax, [lockword]
    EXPECT 1                            # 3
    call spin_unlock
    lea ebx, [mutexword]
    call mutex_lock
    mov eax, [mutexword]
    EXPECT 1                            # 4: locked, no waiters
    call mutex_unlock
    mov eax, [mutexword]
    EXPECT 0                            # 5
    mov dword ptr [mutexword], 2
    call mutex_unlock                   # the futex_wake path: nobody there
    EXPECT 0                            # 6: futex_wake woke 0
    mov eax, [mutexword]
    EXPECT 0                            # 7
    jmp done

shared_run:
    mov esi, eax
    and esi, 0xFFFFF000                 # the shared page
    and eax, 0xF
    mov edi, eax                        # role
    mov ebp, ROUNDS
round:
    lea ebx, [esi + MUTEX]
    cmp edi, 1
    je lock_mutex
    lea ebx, [esi + SPIN]
    call spin_lock
    jmp locked
lock_mutex:
    call mutex_lock
locked:
    mov eax, [esi + COUNTER]            # a wide window: read, spin, write
    mov ecx, 30
window:
    dec ecx
    jnz window
    inc eax
    mov [esi + COUNTER], eax
    cmp edi, 1
    je unlock_mutex
    call spin_unlock
    jmp unlocked
unlock_mutex:
    call mutex_unlock
unlocked:
    dec ebp
    jnz round
    mov eax, 1
    lock xadd dword ptr [esi + DONE], eax
    cmp eax, 2
    jne done
    mov eax, [esi + COUNTER]
    EXPECT 900                          # 8: 3 * ROUNDS, nothing lost
done:
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
    CHECK_TAIL
lockword: .long 0
mutexword: .long 0
.include "sync.inc"
