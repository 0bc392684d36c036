"""fork (docs/abi.md call 8): a child that is a copy of its caller, with
one thread: a copy of the calling thread. Its private
memory is shared copy-on-write (kernel.mm.vm: AddressSpace.fork), its shm
attachments are inherited (kernel.ipc.shm: ShmTable.inherit), its registers are
the caller's as the system call left them, EAX aside."""

from kernel.proc.process import Process
from kernel.proc.thread import Thread
from kernel.syscall import Errno
from kernel.mm.vm import NoMemory


def sys_fork(k, p, *_):
    child = fork_process(k, p)
    return child if isinstance(child, int) else child.pid


def fork_process(k, parent):
    """Copy parent (the process in the current system call) into a new
    process with one thread, a copy of the calling thread; return it, or -EAGAIN (table full) / -ENOMEM (no frame for its
    directory or tables), having created nothing."""
    if k.procs.full():
        return -Errno.EAGAIN
    pid = k.procs.next_pid               # taken only when the fork succeeds
    try:
        aspace = parent.aspace.fork()
    except NoMemory:
        return -Errno.ENOMEM
    try:
        k.shm.inherit(parent.aspace, aspace, pid)
    except NoMemory:
        aspace.destroy()
        return -Errno.ENOMEM
    _inherit_rights(parent.aspace, aspace)
    if k.procs.new_pid() != pid:
        raise RuntimeError("fork_process: pid taken under the kernel lock")
    child = Process(pid, parent.name, parent.uid, parent.pid, aspace)
    child.threads[pid] = Thread(pid, child, _child_context(k, aspace))
    k.adopt(parent, child)
    return child


def _inherit_rights(parent, child):
    """mprotect's rights on the inherited attachments' pages (the private
    ones came with their PTEs)."""
    for r in child.regions:
        for va, prot in parent.prot.items():
            if r.shared and r.contains(va):
                child.protect([(r, va, va + r.page_size)], prot)


def _child_context(k, aspace):
    """The caller's registers as the current CPU holds them inside the
    system call (EIP after the int), flags settled, EAX 0, CR3 the child's."""
    ctx = k.cpu.new_context()
    k.cpu.save(ctx)
    ctx.settle_flags()
    ctx.set("eax", 0)
    ctx.set("cr3", aspace.pd)
    ctx.clear_exception()
    return ctx
