"""The machine: physical RAM, and one or more Unicorn IA32 CPUs over it.

This module and its siblings in emu/ are the only importers of unicorn.
Physical RAM is one host buffer mapped at physical address 0 into every
CPU, so the kernel reads and writes guest-physical memory (page tables above
all) through a memoryview at host speed. Once CR0.PG is set every guest
access goes through the page tables in that RAM; a Uc's mem_* calls are
physical. Each CPU has its own registers, CR3, TLB and translated code.
"""

import ctypes
import mmap
import struct

from unicorn import (UC_ARCH_X86, UC_CTL_IO_WRITE, UC_CTL_TB_REMOVE_CACHE,
                     UC_CTL_TLB_FLUSH,
                     UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INSN_INVALID,
                     UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE,
                     UC_MEM_WRITE, UC_MODE_32, UC_PROT_ALL, Uc, UcError)
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from emu import x86
from emu.cpu import REGS, Context

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_CTL_TLB_FLUSH = (UC_CTL_IO_WRITE << 30) | UC_CTL_TLB_FLUSH   # uc_ctl encoding
_CTL_REMOVE_CACHE = (UC_CTL_IO_WRITE << 30) | (2 << 26) | \
    UC_CTL_TB_REMOVE_CACHE                                  # with 2 arguments
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32,
                            ctypes.c_void_p)
_INVALID_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p,
                               ctypes.c_void_p)
_IN_CB = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
                          ctypes.c_int, ctypes.c_void_p)
_OUT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32,
                           ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)
_SYS_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64,
                            ctypes.c_uint32, ctypes.c_void_p)
_MEM_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_uint64, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_void_p)


class EmulatorError(Exception):
    """Unicorn refused to run (an emulator failure, not a guest fault)."""


class Machine:
    """Physical RAM of `memory` bytes shared by `ncpus` CPUs."""

    def __init__(self, memory, ncpus=1):
        if memory % x86.LARGE_PAGE_SIZE or memory <= 0:
            raise ValueError("memory must be a positive multiple of 4 MiB")
        self.memory = memory
        # private: a forked copy of the process (a debugger's checkpoint)
        # keeps the RAM it had, whatever this process writes later
        self.ram = mmap.mmap(-1, memory, flags=mmap.MAP_PRIVATE |
                             mmap.MAP_ANONYMOUS)
        self.mem = memoryview(self.ram)
        self._ram_ptr = ctypes.c_char.from_buffer(self.ram)
        self.ram_address = ctypes.addressof(self._ram_ptr)
        self.layout = None         # set by emu.calibrate
        self.cpus = [Cpu(self, i) for i in range(ncpus)]

    # -- physical memory -------------------------------------------------
    def read32(self, pa):
        return _U32.unpack_from(self.mem, pa)[0]

    def write32(self, pa, value):
        _U32.pack_into(self.mem, pa, value)

    def read64(self, pa):
        return _U64.unpack_from(self.mem, pa)[0]

    def write64(self, pa, value):
        _U64.pack_into(self.mem, pa, value)

    def read(self, pa, n):
        return bytes(self.mem[pa:pa + n])

    def write(self, pa, data):
        self.mem[pa:pa + len(data)] = data

    def zero(self, pa, n):
        self.mem[pa:pa + n] = bytes(n)

    def flush_code(self):
        """Drop every CPU's translated code (RAM writes never invalidate it)."""
        for c in self.cpus:
            c.flush_code()

    @property
    def instructions(self):
        counts = [c.instructions for c in self.cpus]
        return None if None in counts else sum(counts)


class Cpu:
    """One IA32 CPU. The kernel installs four handlers: on_interrupt(intno)
    for int 0x80 and CPU exceptions, on_invalid() for #UD, on_io() for a
    ring-3 in/out (a #GP on real hardware), on_fast_syscall(name) for
    syscall/sysenter. Each runs inside run(); any of them may call stop()."""

    def __init__(self, machine, index):
        self.machine = machine
        self.index = index
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uch = self.uc._uch
        self.uc.mem_map_ptr(0, machine.memory, UC_PROT_ALL,
                            machine.ram_address)
        self.panic = None          # a Python exception raised in a hook
        self._callbacks = []
        self.on_interrupt = self.on_invalid = self.on_io = None
        self.on_fast_syscall = None
        self.iret_guard = None     # emu.iretguard.IretGuard, once guarded
        self.context_size = uclib.uc_context_size(self.uch)
        self.counter = None        # emu.icount.Counter once counting
        self.preempt_flag = None   # emu.icount.PreemptFlag (default mode)
        self.regs = SyscallRegs(self)
        self._scratch = None
        self._exc_ctx = None
        self.on_stopped = None     # after each emu_start: True = run on
        self._debug_hooks = {}     # handle -> ctypes callback (kept alive)
        self._stop_next = None     # emu.icount.StopNext while watching
        self._install_hooks()
        self.code_pages = self._record_code_pages()

    @property
    def layout(self):
        return self.machine.layout

    def preempt_later(self):
        """Ask this CPU, from any thread, to stop at its next block start
        (see emu.icount.PreemptFlag), once enable_preemption has run."""
        if self.preempt_flag is not None:
            self.preempt_flag.raise_()

    def new_slice(self):
        """A slice starts: a stop requested for the last one is void."""
        if self.preempt_flag is not None:
            self.preempt_flag.clear()

    def guard_iret(self, on_iret):
        """From now on call on_iret(address) before any iret runs (see
        emu.iretguard); translated code is dropped so that none escapes."""
        from emu.iretguard import IretGuard
        if self.iret_guard is None:
            self.iret_guard = IretGuard(self, on_iret)
            self.flush_code()

    def enable_preemption(self):
        from emu.icount import PreemptFlag
        if self.preempt_flag is None:
            self.preempt_flag = PreemptFlag(self.uch)
            self.flush_code()      # code translated before has no hook

    def count_instructions(self):
        """Count every instruction from now on (reproducible slicing; about
        an order of magnitude slower than running free)."""
        from emu.icount import Counter
        self.counter = Counter(self.uch)
        self.flush_code()          # code translated before has no hook

    # -- registers and contexts ------------------------------------------
    def reg(self, name):
        return self.uc.reg_read(REGS[name])

    def set_reg(self, name, value):
        self.uc.reg_write(REGS[name], value)

    def load_gdt(self, base_va, nentries):
        """Load GDTR with a table of nentries descriptors at base_va."""
        self.uc.reg_write(X.UC_X86_REG_GDTR, (0, base_va, 8 * nentries - 1, 0))

    def enable_paging(self, cr3, mode, wp=True):
        """Turn on protected mode and paging in `mode` (an emu.x86.
        PagingMode: its CR4 and EFER bits), with CR0.WP unless wp is False.
        Paging goes off first, so the mode may change (SDM 4.1.2). ET is
        read-only 1 on every CPU since the i486, so smsw shows it."""
        self.uc.reg_write(X.UC_X86_REG_CR0, x86.CR0_PE | x86.CR0_ET)
        self.uc.reg_write(X.UC_X86_REG_CR4, mode.cr4)
        self.uc.msr_write(x86.MSR_EFER, mode.efer)
        self.uc.reg_write(X.UC_X86_REG_CR3, cr3)
        self.uc.reg_write(X.UC_X86_REG_CR0, x86.CR0_PE | x86.CR0_ET
                          | x86.CR0_PG | (x86.CR0_WP if wp else 0))

    def load_kernel_segments(self):
        ks = x86.selector(x86.SEG_KDATA)
        self.uc.reg_write(X.UC_X86_REG_CS, x86.selector(x86.SEG_KCODE))
        for r in (X.UC_X86_REG_SS, X.UC_X86_REG_DS, X.UC_X86_REG_ES,
                  X.UC_X86_REG_FS, X.UC_X86_REG_GS):
            self.uc.reg_write(r, ks)

    def new_context(self):
        return Context(self.uch, self.layout, self.context_size)

    @property
    def scratch(self):
        """A context this CPU may save into freely (inside hooks)."""
        if self._scratch is None:
            self._scratch = self.new_context()
        return self._scratch

    def save(self, ctx):
        """Save this CPU's state into ctx."""
        uclib.uc_context_save(self.uch, ctx.handle)

    def load(self, ctx):
        """Load ctx (saved on any CPU of this machine) and flush the TLB,
        which context_restore leaves stale (docs/unicorn.md fact 3)."""
        uclib.uc_context_restore(self.uch, ctx.handle)
        self.flush_tlb()

    def clear_exception(self):
        """Reset the "exception in progress" field in the live CPU (through
        a context of its own: a hook may hold `scratch` meanwhile)."""
        if self._exc_ctx is None:
            self._exc_ctx = self.new_context()
        s = self._exc_ctx
        self.save(s)
        s.clear_exception()
        uclib.uc_context_restore(self.uch, s.handle)

    def flush_tlb(self):
        """Drop every cached translation."""
        uclib.uc_ctl(self.uch, _CTL_TLB_FLUSH)

    def _record_code_pages(self):
        """Install the record of translated pages (emu.icount.CodePages),
        then run one block that returns normally, from which on Unicorn
        reports every translation to the edge hook (docs/unicorn.md "Code
        coherence between CPUs"): a jmp to the next byte at physical 0,
        while paging is off and RAM is still all zero."""
        from emu.icount import CodePages
        pages = CodePages(self.uch)
        ram = self.machine.mem
        ram[0:2] = b"\xeb\x00"
        self.uc.emu_start(0, 2)
        ram[0:2] = bytes(2)
        self.uc.ctl_flush_tb()
        pages.clear()
        return pages

    def flush_code(self):
        """Drop all translated code."""
        self.uc.ctl_flush_tb()
        self.code_pages.clear()

    def may_hold_code(self, va):
        """True when this CPU may hold translated code of va's page, in
        any address space."""
        return va in self.code_pages

    def remove_code(self, va, nx=False):
        """Drop the translated code of the frame the loaded context maps at
        va, whatever address it was translated at (~1 us, a raw uc_ctl); a
        failed call drops everything. The lookup is an instruction fetch:
        on a page the context cannot fetch from (not present, or nx: no-
        execute) it drops nothing and silently records a #PF as "in
        progress", which would turn the next real fault into a double fault
        (docs/unicorn.md fact 1): with nx, reset it."""
        if uclib.uc_ctl(self.uch, _CTL_REMOVE_CACHE, ctypes.c_uint64(va),
                        ctypes.c_uint64(va + x86.PAGE_SIZE)):
            self.flush_code()
        if nx:
            self.clear_exception()

    # -- running ---------------------------------------------------------
    @property
    def instructions(self):
        return self.counter.count if self.counter else None

    def run(self, eip, count=0):
        """Run from eip until a handler calls stop(), or (when counting)
        until count more instructions have started."""
        if self.counter:
            self.counter.allow(count or 1 << 62)
        while True:
            err = uclib.uc_emu_start(self.uch, eip, 0, 0, 0)
            while not err and self.panic is None and self.iret_guard and \
                    self.iret_guard.stopped():
                err = uclib.uc_emu_start(self.uch, self.reg("eip"), 0, 0, 0)
            if err and self.panic is None:
                raise EmulatorError(str(UcError(err)))
            if self.panic is not None:
                exc, self.panic = self.panic, None
                raise exc
            if self.on_stopped is None or not self.on_stopped():
                return
            self.clear_exception()          # docs/unicorn.md fact 6
            eip = self.reg("eip")

    def slice_used_up(self):
        """True when counting and the last run() used its whole count."""
        c = self.counter
        return c is not None and c.state.count >= c.state.limit

    def uncount(self):
        """A debug hook stopped the CPU before the instruction the counter
        had already counted: that instruction did not run."""
        if self.counter is not None:
            self.counter.state.count -= 1

    # -- debug hooks (breakpoints, watchpoints, single step) --------------
    def add_code_hook(self, fn, begin=1, end=0):
        """Call fn(address) before every instruction in [begin, end]
        (everywhere when begin > end); returns a handle for remove_hook."""
        cb = _CODE_CB(self._guard(lambda h, addr, size, ud: fn(addr)))
        return self._add_debug(UC_HOOK_CODE, cb, begin, end)

    def add_mem_hook(self, fn, begin, end, reads, writes):
        """Call fn(is_write, pa, size) on every guest data access to
        physical [begin, end] (reads and/or writes); returns a handle."""
        htype = (UC_HOOK_MEM_READ if reads else 0) | \
            (UC_HOOK_MEM_WRITE if writes else 0)
        cb = _MEM_CB(self._guard(lambda h, acc, addr, size, val, ud: fn(
            acc == UC_MEM_WRITE, addr, size) and False, False))
        return self._add_debug(htype, cb, begin, end)

    def add_write_hook(self, fn, begin, end):
        """Call fn(pa, size, value) before every guest data write to
        physical [begin, end] (value: the bytes written, little-endian);
        returns a handle for remove_hook."""
        mask = (1 << 64) - 1
        cb = _MEM_CB(self._guard(lambda h, acc, addr, size, val, ud: fn(
            addr, size, val & mask) and False, False))
        return self._add_debug(UC_HOOK_MEM_WRITE, cb, begin, end)

    def stop_after_access(self, on):
        """Install (on=True) or remove the per-instruction C hook that
        stop_next() needs; costly per instruction, so only while needed."""
        from emu.icount import StopNext
        if on and self._stop_next is None:
            self._stop_next = StopNext(self.uch, self.counter)
            self.flush_code()      # code translated before has no hook
        elif not on and self._stop_next is not None:
            self._stop_next.remove()
            self._stop_next = None
            self.flush_code()

    def stop_next(self, armed=True):
        """From a memory hook: stop before the next instruction starts
        (the accessing one completes); armed=False cancels that."""
        if self._stop_next is not None:
            (self._stop_next.arm if armed else self._stop_next.disarm)()

    def remove_hook(self, handle):
        """Remove a hook added by add_code_hook or add_mem_hook."""
        if self._debug_hooks.pop(handle, None) is not None:
            uclib.uc_hook_del(self.uch, ctypes.c_size_t(handle))

    def _add_debug(self, htype, cb, begin, end):
        h = ctypes.c_size_t()
        err = uclib.uc_hook_add(self.uch, ctypes.byref(h), htype,
                                ctypes.cast(cb, ctypes.c_void_p), None,
                                ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if err:
            raise EmulatorError(f"uc_hook_add({htype}) failed: {err}")
        self._debug_hooks[h.value] = cb
        return h.value

    def run_to(self, eip, until):
        """Run from eip until EIP reaches until (no hooks involved)."""
        self.uc.emu_start(eip, until)

    def stop(self):
        uclib.uc_emu_stop(self.uch)

    def stop_from_another_thread(self):
        """uc_emu_stop from a thread other than the emulating one: the CPU
        stops at its next block boundary. Only a debugger's rare interrupt
        (Ctrl-C) uses this, so that no per-block hook slows the guest down;
        the scheduler stops CPUs only from the emulating thread (see
        docs/unicorn.md). A stop landing between two runs is lost: the caller
        repeats it until the stop is seen."""
        uclib.uc_emu_stop(self.uch)

    def _install_hooks(self):
        """Route interrupts, #UD and port I/O to the kernel's handlers."""
        def interrupt(h, intno, ud):        # the hot path: kept flat
            try:
                self.on_interrupt(intno)
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self._hook_failed(e)
        self._add(UC_HOOK_INTR, _INTR_CB(interrupt))
        self._add(UC_HOOK_INSN_INVALID, _INVALID_CB(self._guard(
            lambda h, ud: self.on_invalid(), True)))
        self._add(UC_HOOK_INSN, _IN_CB(self._guard(
            lambda h, port, size, ud: self.on_io() or 0, 0)), X.UC_X86_INS_IN)
        self._add(UC_HOOK_INSN, _OUT_CB(self._guard(
            lambda h, port, size, val, ud: self.on_io())), X.UC_X86_INS_OUT)
        # Unicorn runs syscall/sysenter as no-ops unless hooked.
        for insn, name in ((X.UC_X86_INS_SYSCALL, "syscall"),
                           (X.UC_X86_INS_SYSENTER, "sysenter")):
            self._add(UC_HOOK_INSN, _SYS_CB(self._guard(
                lambda h, ud, name=name: self.on_fast_syscall(name))), insn)

    def guarded(self, fn, *args):
        """Call fn(*args) from a hook; an exception stops the run and is
        re-raised by run()."""
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised by run()
            self._hook_failed(e)

    def _guard(self, fn, fallback=None):
        """Wrap a hook so a Python exception stops the run and is re-raised."""
        def hook(*args):
            try:
                return fn(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self._hook_failed(e)
                return fallback
        return hook

    def _hook_failed(self, e):
        """A Python exception in a hook: stop, and let run() re-raise it."""
        if self.panic is None:
            self.panic = e
        self.stop()

    def _add(self, htype, cb, insn=None):
        h = ctypes.c_size_t()
        extra = (ctypes.c_int(insn),) if insn is not None else ()
        err = uclib.uc_hook_add(self.uch, ctypes.byref(h), htype,
                                ctypes.cast(cb, ctypes.c_void_p), None,
                                ctypes.c_uint64(1), ctypes.c_uint64(0),
                                *extra)
        if err:
            raise EmulatorError(f"uc_hook_add({htype}) failed: {err}")
        self._callbacks.append(cb)


class SyscallRegs:
    """Fast access to the syscall registers from inside the interrupt hook:
    one raw batch read of EAX, EBX, ECX, EDX, ESI, EDI and one EAX write."""

    def __init__(self, cpu):
        names = ("eax", "ebx", "ecx", "edx", "esi", "edi")
        self._ids = (ctypes.c_int * 6)(*(REGS[n] for n in names))
        self._vals = (ctypes.c_uint32 * 6)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * 6)(*(base + 4 * i for i in range(6)))
        self._out = ctypes.c_uint32()
        self._out_ref = ctypes.byref(self._out)
        self._uch = cpu.uch
        self._read = uclib.uc_reg_read_batch
        self._write = uclib.uc_reg_write
        self._eax = REGS["eax"]

    def read(self):
        """(eax, ebx, ecx, edx, esi, edi) as unsigned 32-bit values."""
        self._read(self._uch, self._ids, self._ptrs, 6)
        return tuple(self._vals)

    def set_result(self, value):
        self._out.value = value & 0xFFFFFFFF
        self._write(self._uch, self._eax, self._out_ref)
