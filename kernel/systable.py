"""The system call table: every call the kernel answers, in number order
(docs/abi.md lists the same calls). Each handler lives beside the concept
it serves and receives the kernel, the calling process and the five
argument registers. A number missing here returns -ENOSYS (kernel.trap)."""

from kernel.ipc.msg import sys_futex_wait, sys_futex_wake, sys_recv, \
    sys_send
from kernel.ipc.shm import sys_shm_attach, sys_shm_create, sys_shm_destroy, \
    sys_shm_detach, sys_shm_lookup, sys_shm_stat
from kernel.mm.mprotect import sys_mprotect
from kernel.proc.fork import sys_fork
from kernel.proc.systhread import sys_gettid, sys_thread_create, \
    sys_thread_exit, sys_thread_join
from kernel.proc.sysproc import sys_exit, sys_getpid, sys_getuid, \
    sys_setuid, sys_spawn, sys_wait, sys_write, sys_yield
from kernel.syscall import Sys

# Keyed by plain int: the dispatcher's lookup of a small int register value
# then matches its key by identity.
SYSCALLS = {int(num): handler for num, handler in {
    Sys.EXIT: sys_exit,
    Sys.WRITE: sys_write,
    Sys.GETPID: sys_getpid,
    Sys.YIELD: sys_yield,
    Sys.SPAWN: sys_spawn,
    Sys.WAIT: sys_wait,
    Sys.GETUID: sys_getuid,
    Sys.SETUID: sys_setuid,
    Sys.FORK: sys_fork,
    Sys.SHM_CREATE: sys_shm_create,
    Sys.SHM_LOOKUP: sys_shm_lookup,
    Sys.SHM_ATTACH: sys_shm_attach,
    Sys.SHM_DETACH: sys_shm_detach,
    Sys.SHM_DESTROY: sys_shm_destroy,
    Sys.SHM_STAT: sys_shm_stat,
    Sys.MPROTECT: sys_mprotect,
    Sys.SEND: sys_send,
    Sys.RECV: sys_recv,
    Sys.FUTEX_WAIT: sys_futex_wait,
    Sys.FUTEX_WAKE: sys_futex_wake,
    Sys.THREAD_CREATE: sys_thread_create,
    Sys.THREAD_EXIT: sys_thread_exit,
    Sys.THREAD_JOIN: sys_thread_join,
    Sys.GETTID: sys_gettid,
}.items()}
