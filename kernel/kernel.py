"""The kernel: boots the machine, creates and ends processes, and runs the
scheduler loop. System calls live in sys_proc/shm/ipc; the entry from the
hardware is kernel.trap."""

import sys
from dataclasses import dataclass

from emu.x86 import PAGING_MODES
from kernel import trap
from kernel.boot import boot_machine
from kernel.events import Hooks, handler_names
from kernel.mm.frames import Frames
from kernel.ipc.msg import Ipc
from kernel.memlayout import DEFAULT_MEMORY, FIRST_FREE_PA, USTACK_BASE, \
    USTACK_TOP
from kernel.proc.process import Process, ProcState, ProcTable, WaitKind, \
    WaitReason
from kernel.proc.thread import Thread
from kernel.sched.scheduler import Scheduler
from kernel.ipc.shm import ShmTable
from kernel.syscall import Errno
from kernel.mm.textcache import TextCache
from kernel.mm.vm import VM, AddressSpace, NoMemory, Region, RegionKind

EXIT_DEADLOCK = -int(Errno.EDEADLK)


class KernelPanic(Exception):
    """A broken kernel invariant or a Python exception inside the kernel."""


@dataclass
class Stats:
    instructions: object = None      # counted only with --quantum (else None)
    syscalls: int = 0
    page_faults: int = 0
    cow_faults: int = 0              # copy-on-write breaks (fault or copy-out)
    cow_copies: int = 0              # those that copied a frame
    context_switches: int = 0
    threads_created: int = 0         # by thread_create (not first threads)
    tlb_shootdowns: int = 0          # interrupts sent to flush another CPU
    tlb_flushes: int = 0             # TLB flushes page-table changes made
    #                                  (the calling CPU's and shootdowns')
    frames_total: int = 0
    frames_free_at_boot: int = 0
    frames_free_at_end: int = 0


class Console:
    """Where fd 1 and fd 2 go: binary streams, stdout and stderr by default."""

    def __init__(self, out=None, err=None):
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr.buffer

    def write(self, fd, data):
        (self.out if fd == 1 else self.err).write(data)

    def message(self, text):
        """A kernel message: always to stderr, after flushing stdout."""
        self.out.flush()
        self.err.write(f"ia32k: {text}\n".encode())
        self.err.flush()


class ObservedConsole:
    """A console as the kernel (and its observers) write to it: each write
    by a process is also the output event, each message the message event."""

    def __init__(self, inner, k):
        self.inner, self.k = inner, k

    def write(self, fd, data):
        if self.k.hooks.output:
            self.k.notify("output", self.k.current, fd, data)
        self.inner.write(fd, data)

    def message(self, text):
        self.k.notify("message", text)
        self.inner.message(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Kernel:
    """One booted machine and everything running on it. Its parts (ipc,
    shm, text) are called directly where a process spawns or ends;
    observers (tools, tests) attach to its events (kernel.events)."""

    def __init__(self, programs, memory=DEFAULT_MEMORY, quantum=0,
                 console=None, cpus=1, seed=None, policy=None,
                 paging="32", tlb_shootdown=True):
        self.paging = PAGING_MODES[paging]    # "32" or "pae"
        self.hw, self.template, half = boot_machine(memory, cpus, self.paging)
        self.frames = Frames(FIRST_FREE_PA, memory)
        self.hooks = Hooks()                # per event, the observers' handlers
        self.observers = []                 # attach order: see attach()
        self.vm = VM(self.hw, self.frames, half,
                     on_tables_changed=self._tables_changed,
                     on_code_written=self._code_written, mode=self.paging,
                     hooks=self.hooks)
        self.programs = programs   # .get(name) -> loader.Image or None
        self.procs = ProcTable()
        self.console = ObservedConsole(console or Console(), self)
        self.cpu = None                     # the CPU now running, if any
        self.current = None                 # the process on that CPU
        self.thread = None                  # the thread of it running there
        self.switch = False                 # the hook asked to reschedule
        self.stats = Stats(frames_total=self.frames.total)
        self.ipc = Ipc(self)                # mailboxes and futexes
        self.shm = ShmTable(self)
        self.text = TextCache(self.vm)      # program images, shared
        self.parts = (self.ipc, self.shm, self.text)   # books of their own
        self.sched = Scheduler(self, quantum, seed, policy)
        if not tlb_shootdown:
            self.sched.shootdown.turn_off()
        for cpu in self.hw.cpus:
            trap.install(self, cpu)
        self.stats.frames_free_at_boot = self.frames.nfree

    def _tables_changed(self, aspace, why, old=()):
        self.sched.tables_changed(aspace, why, old)

    def _code_written(self, aspace, pages, shared):
        self.sched.code_written(aspace, pages, shared)

    # -- process lifecycle ---------------------------------------------
    def create_process(self, name, parent=None, arg=0):
        """Load program name into a new process; return it, or -errno."""
        image = self.programs.get(name)
        if image is None:
            return -Errno.ENOENT
        if self.procs.full():
            return -Errno.EAGAIN
        try:
            aspace = self._build_aspace(image)
        except NoMemory:
            return -Errno.ENOMEM
        pid = self.procs.new_pid()
        p = Process(pid, name, parent.uid if parent else 0,
                    parent.pid if parent else 0, aspace)
        ctx = self.user_context(aspace, image.entry, USTACK_TOP, arg)
        p.threads[pid] = Thread(pid, p, ctx)
        self.adopt(parent, p)
        return p

    def adopt(self, parent, child):
        """Enter a new process in the table (and its parent's children):
        the one place every spawn (and fork) passes through."""
        if parent:
            parent.children.append(child.pid)
        self.procs.add(child)
        self.shm.on_spawn(child)
        self.notify("spawn", parent, child)

    # -- observers (kernel.events) -------------------------------------
    def attach(self, observer):
        """From now on call observer's on_<event> methods (events of
        kernel.events.EVENTS; any other on_* name is an error). Returns
        observer."""
        handler_names(observer)
        self.observers.append(observer)
        self._hooks_changed()
        return observer

    def detach(self, observer):
        """Stop calling observer."""
        self.observers.remove(observer)
        self._hooks_changed()

    def observer(self, kind):
        """The first attached observer of class kind, or None."""
        return next((o for o in self.observers if isinstance(o, kind)), None)

    def _hooks_changed(self):
        trapped = bool(self.hooks.trap_end)
        self.hooks.rebuild(self.observers)
        if bool(self.hooks.trap_end) != trapped:
            for cpu in self.hw.cpus:
                trap.install(self, cpu)

    def notify(self, event, *args):
        """Emit event (kernel.events.EVENTS) to its observers."""
        for fn in getattr(self.hooks, event):
            fn(*args)

    def shm_attached(self, p, seg, start):
        """kernel.ipc.shm mapped seg at start in p: the scheduler's code
        coherence learns of it, then the observers."""
        self.sched.shm_attached(p, start)
        self.notify("shm_attach", p, seg, start)

    def _build_aspace(self, image):
        aspace = AddressSpace(self.vm)
        try:
            self.text.map(aspace, image)
        except NoMemory:
            aspace.destroy()
            raise
        aspace.add_region(Region(USTACK_BASE, USTACK_TOP, True,
                                 RegionKind.STACK,
                                 pager=self._zero_pager, executable=False))
        return aspace

    def _zero_pager(self, region, va):
        return self.vm.alloc_zeroed()

    def user_context(self, aspace, entry, stack_top, arg):
        """Registers for a thread's first instruction: EIP entry, ESP
        stack_top, EAX arg, the other general registers 0, EFLAGS 0x202."""
        ctx = self.hw.cpus[0].new_context()
        ctx.copy_from(self.template)
        for r in ("ebx", "ecx", "edx", "esi", "edi", "ebp"):
            ctx.set(r, 0)
        ctx.set("eax", arg)
        ctx.set("esp", stack_top)
        ctx.set("eip", entry)
        ctx.set("cr3", aspace.pd)
        ctx.clear_exception()
        return ctx

    def exit_process(self, p, status, fault=None):
        """End p and every thread of it: free its memory, make it a
        zombie, wake a waiting parent."""
        p.status, p.fault = status, fault
        for t in p.live_threads():
            self.ipc.on_exit(t)             # before observers see the exit
        self.ipc.on_process_exit(p)
        self.notify("exit", p)
        for t in p.live_threads():
            self._end_thread(t, status)
        self.procs.exited(p)
        if p.aspace is not None:
            p.aspace.destroy()
            p.aspace = None
        for cpid in p.children:
            child = self.procs.get(cpid)
            if child.state is ProcState.ZOMBIE:
                child.reaped = True
            child.parent = -1
        parent = self.procs.get(p.parent)
        if parent is None or not parent.alive:
            p.reaped = True
            return
        for t in parent.waiting(WaitKind.WAIT):
            if t.wait_on.key in (-1, p.pid):
                self.wake(t, t.wait_on.resume(parent, p))
                return

    def _end_thread(self, t, status):
        """t runs no more: off the run queue and off any CPU."""
        t.status = status
        if t in self.procs.runq:
            self.procs.runq.remove(t)
        t.state, t.wait_on = ProcState.ZOMBIE, None
        self.procs.ended(t)
        self.sched.thread_ended(t)

    def end_thread(self, t, status):
        """thread_exit: t ends, the others of its process go on; a sibling
        joining it wakes. The last thread's end is the process's exit."""
        p = t.proc
        if len(p.live_threads()) == 1:
            self.exit_process(p, status)
            return
        self.ipc.on_exit(t)
        self.notify("thread_exit", t)
        self._end_thread(t, status)
        for j in p.waiting(WaitKind.JOIN):
            if j.wait_on.key == t.tid:
                self.wake(j, j.wait_on.resume(t))

    def wake(self, t, result):
        """Make a blocked thread runnable with result as its syscall's
        return."""
        t.ctx.set("eax", result)
        self.procs.make_runnable(t)

    def block(self, t, kind, describe, key=None, resume=None):
        """Put the current thread t to sleep until someone wakes it."""
        self.procs.block(t, WaitReason(kind, describe, resume, key))

    # -- running --------------------------------------------------------
    def boot(self, names):
        """Create the boot processes, in order, before any of them runs."""
        procs = []
        for name in names:
            p = self.create_process(name)
            if isinstance(p, int):
                raise KernelPanic(f"boot: cannot start {name}: {Errno(-p).name}")
            procs.append(p)
        return procs

    def run(self):
        """Run until every process has ended (see kernel.sched.scheduler)."""
        if not self.sched.shootdown.enabled:
            self.console.message(
                "warning: --tlb-shootdown off: no CPU flushes another's TLB;"
                " a thread may use a translation the page tables no longer "
                "grant (each such access is reported)")
        self.sched.run()
        self.cpu = self.current = self.thread = None
        self.notify("run_end")
        self.stats.frames_free_at_end = self.frames.nfree
        self.stats.cow_faults = self.vm.stats["cow_faults"]
        self.stats.cow_copies = self.vm.stats["cow_copies"]
        self.stats.instructions = self.hw.instructions

    def break_deadlock(self):
        """Every live process is blocked: report each one and end them."""
        stuck = self.procs.blocked()
        if not stuck:
            return False
        for t in stuck:
            self.console.message(f"deadlock: {t.label()} blocked "
                                 f"forever: {t.wait_on.describe}")
        for t in stuck:
            if t.proc.alive:
                self.exit_process(t.proc, EXIT_DEADLOCK)
        return True

    def yield_cpu(self, t):
        """Called from a hook: save thread t's state and end this slice.
        The caller decides whether t is requeued, blocked or gone."""
        self.cpu.save(t.ctx)
        t.ctx.settle_flags()
        self.end_slice()

    def end_slice(self):
        self.switch = True
        self.cpu.stop()
