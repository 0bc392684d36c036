"""The one entry from the hardware: system calls, CPU exceptions, #UD and
ring-3 port I/O. A guest mistake ends only that process, with status
256 + vector and a report; it never raises out of the kernel."""

from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from emu import x86
from emu.x86 import Vector
from kernel import ring3
from kernel.events import Trap
from kernel.syscall import BLOCKED, NORETURN, RESTART, SWITCH, Errno, Sys
from kernel.systable import SYSCALLS
from kernel.mm.vm import NoMemory

EXC_STATUS_BASE = 256
_disasm = Cs(CS_ARCH_X86, CS_MODE_32)
VECTOR_NAMES = {int(v): v.text for v in Vector if v is not Vector.SYSCALL}
REPORTED_ERROR_CODES = (Vector.INVALID_TSS, Vector.SEGMENT_NOT_PRESENT,
                        Vector.STACK_FAULT, Vector.GENERAL_PROTECTION,
                        Vector.ALIGNMENT_CHECK)   # a #PF reports its own


def install(k, cpu):
    """Point one CPU's hooks at this kernel; each is followed by the
    trap_end event while someone observes it (the kernel installs them
    again when that changes, so that unobserved traps pay nothing)."""
    handlers = (_interrupt_handler(k, cpu), lambda: invalid_opcode(k),
                lambda: port_io(k), lambda name: fast_syscall(k, name))
    if k.hooks.trap_end:
        handlers = [_observed(k, cpu, h) for h in handlers]
    (cpu.on_interrupt, cpu.on_invalid, cpu.on_io,
     cpu.on_fast_syscall) = handlers
    cpu.guard_iret(lambda address: iret(k, address))


def killed(k):
    """True when the current process died earlier in this run of the CPU.
    Unicorn finishes the translated block after stop() (an in/out hook
    cannot abort its instruction), so the block's later instructions may
    still trap here; they must have no effect."""
    if k.current.alive:
        return False
    k.cpu.stop()
    return True


def _observed(k, cpu, handler):
    """handler, followed by the trap_end event."""
    def observed(*args):
        what = _event_name(k, cpu, args)
        r = handler(*args)
        k.notify("trap_end", what)
        return r
    return observed


def _event_name(k, cpu, args):
    """The Trap that trap_end reports for a hook called with args."""
    pid = k.current.pid if k.current else "-"
    if args and args[0] == Vector.SYSCALL:
        num = cpu.regs.read()[0]
        name = Sys(num).name.lower() if num in Sys._value2member_map_ else num
        return Trap(name, None, pid)
    return Trap(None, args[0] if args else None, pid)


def _interrupt_handler(k, cpu):
    """The hook for int 0x80 and CPU exceptions. A syscall is the hot path
    (the unit of cost is this round trip), so its lookups are bound once."""
    read, set_result, stats, table, hooks = (
        cpu.regs.read, cpu.regs.set_result, k.stats, SYSCALLS, k.hooks)
    syscall_vector = int(Vector.SYSCALL)

    def on_interrupt(intno):
        if not k.current.alive:
            killed(k)
            return
        if intno != syscall_vector:
            exception(k, intno)
            return
        stats.syscalls += 1
        num, a1, a2, a3, a4, a5 = read()
        handler = table.get(num)
        p, t = k.current, k.thread
        try:
            r = handler(k, p, a1, a2, a3, a4, a5) if handler else \
                -Errno.ENOSYS
        except MemoryError:              # the host ran short: fail the
            r = -Errno.ENOMEM            # call, never the run
        if r.__class__ is int:
            set_result(r)
        else:
            _reschedule(k, t, r, set_result)
        if hooks.syscall:
            k.notify("syscall", t, num, (a1, a2, a3, a4, a5),
                     r if r.__class__ is int else 0 if r is SWITCH else None)
    return on_interrupt


def _reschedule(k, t, r, set_result):
    """After a call that blocked, yielded or exited: thread t gives up the
    CPU."""
    if r is BLOCKED:
        k.yield_cpu(t)
    elif r is SWITCH:
        set_result(0)
        k.yield_cpu(t)
        k.procs.make_runnable(t)
    elif r is NORETURN:
        k.end_slice()
    elif r is RESTART:       # back to the int 0x80 (2 bytes), after others
        k.yield_cpu(t)
        t.ctx.set("eip", t.ctx.get("eip") - 2)
        k.procs.make_runnable(t)
    else:
        raise TypeError(f"syscall handler returned {r!r}")


def exception(k, intno):
    """A CPU exception (or a software int n, which is a #GP at CPL 3)."""
    ctx = k.cpu.scratch
    k.cpu.save(ctx)
    eip = ctx.get("eip")
    if ctx.is_software_int():
        insn_len = _soft_int_length(k, intno, eip)
        kill(k, Vector.GENERAL_PROTECTION, eip - insn_len,
             error_code=(intno << 3) | 2)
        return
    if intno == Vector.PAGE_FAULT:
        page_fault(k, ctx, eip)
        return
    err = ctx.error_code() if intno in REPORTED_ERROR_CODES else None
    if intno == Vector.GENERAL_PROTECTION and \
            _far_stack_fault(k, ctx, eip, True):
        return
    kill(k, intno, eip, error_code=err)


def _far_stack_fault(k, ctx, eip, protection_only=False):
    """A far call, far return or iret whose stack ring 3 may not touch:
    Unicorn made those accesses as a supervisor (and may have read the
    GDT page, then raised #GP); hardware raises a user #PF. Kills the
    process as hardware would and returns True, else returns False. After
    a #GP only a page the supervisor could use counts (protection_only): a
    not-present one would have faulted first in Unicorn too, and a far
    call checks its selector before it pushes."""
    code = ring3.fetch_bytes(k.current.aspace, eip)
    f = ring3.user_stack_fault(k.current.aspace, code, ctx.get("esp"),
                               protection_only)
    if f is None:
        return False
    kill(k, f.vector, eip, cr2=f.cr2, error_code=f.error_code)
    return True


def page_fault(k, ctx, eip):
    """Fill a demand-zero page or break a copy-on-write one and retry, or
    kill the process."""
    cr2 = ctx.get("cr2")                    # saved by exception()
    err = ctx.error_code()
    p = k.current
    if k.hooks.fault_begin:
        k.notify("fault_begin", p, cr2, err, eip)
    try:
        # No PF_U test: all guest code runs at CPL 3, and a supervisor
        # fault is Unicorn's own stack access for a ring-3 far call or
        # return, a user access on hardware (fault_in fills user pages only).
        if not err & x86.PF_P:
            filled = p.aspace.fault_in(cr2, bool(err & x86.PF_W))
        else:       # break_cow flushes the TLBs: the PTE was present
            filled = bool(err & x86.PF_W) and \
                p.aspace.break_cow(cr2) is not None
    except NoMemory:
        filled = False
        k.console.message(f"pid {p.pid} ({p.name}): out of memory")
    if k.hooks.fault_end:
        k.notify("fault_end", filled)
    if filled:
        k.stats.page_faults += 1
        ctx.clear_exception()               # docs/unicorn.md fact 1
        ctx.restore()
        return
    k.stats.page_faults += 1
    if ring3.is_string_io(ring3.fetch_bytes(p.aspace, eip)):
        kill(k, Vector.GENERAL_PROTECTION, eip,
             error_code=0)                  # I/O is checked first
    elif not _far_stack_fault(k, ctx, eip):
        kill(k, Vector.PAGE_FAULT, eip, cr2=cr2, error_code=err)


def invalid_opcode(k):
    """#UD; Unicorn routes a software int 6 here too (EIP at the int),
    which at CPL 3 is a #GP like every int n other than 0x80."""
    if killed(k):
        return True
    ctx = k.cpu.scratch
    k.cpu.save(ctx)
    eip = ctx.get("eip")
    if ctx.is_software_int():
        kill(k, Vector.GENERAL_PROTECTION, eip,
             error_code=(Vector.INVALID_OPCODE << 3) | 2)
    else:     # icebp and rdpmc arrive here too; hardware says #DB, #GP
        f = ring3.invalid_opcode_fault(ring3.fetch_bytes(k.current.aspace,
                                                         eip))
        kill(k, f.vector, eip, error_code=f.error_code)
    return True


def iret(k, eip):
    """Called before an iret at eip runs (emu.iretguard). Unicorn would
    enter virtual-8086 mode when the popped EFLAGS has VM set; at CPL 3 the
    SDM ignores VM and IOPL: do that protected-mode return here, or raise
    what hardware raises for its frame or its CS. Unicorn runs any other
    iret itself (its stack reads were just checked as user reads)."""
    if killed(k):
        return
    p, cpu = k.current, k.cpu
    op, size = ring3.opcode(ring3.fetch_bytes(p.aspace, eip))
    flags = cpu.reg("eflags")
    if op[:1] != b"\xcf":
        return                          # another process's code at eip
    if flags & ring3.EFLAGS_NT:         # a task return: see ring3.TASK_RETURN
        kill(k, ring3.TASK_RETURN.vector, eip,
             error_code=ring3.TASK_RETURN.error_code)
        return
    if size != 4:
        return                          # 16-bit: its EFLAGS has no VM bit
    frame = ring3.iret_frame(p.aspace, cpu.reg("esp"))
    if isinstance(frame, ring3.Fault):
        kill(k, frame.vector, eip, cr2=frame.cr2, error_code=frame.error_code)
        return
    new_eip, cs, popped = frame
    if not popped & ring3.EFLAGS_VM:
        return
    r = ring3.protected_return(flags, new_eip, cs, popped)
    if isinstance(r, ring3.Fault):
        kill(k, r.vector, eip, error_code=r.error_code)
        return
    cpu.set_reg("esp", cpu.reg("esp") + 12)
    cpu.set_reg("eflags", r[1])
    cpu.set_reg("eip", r[0])        # Unicorn goes on from here


def port_io(k):
    """in/out at CPL 3 with IOPL 0: a #GP(0) on real hardware."""
    if not killed(k):
        kill(k, Vector.GENERAL_PROTECTION, k.cpu.reg("eip"), error_code=0)


def fast_syscall(k, name):
    """syscall and sysenter, with EFER.SCE and SYSENTER_CS left 0 as this
    machine does: #UD and #GP(0) on real hardware (EIP is at the insn)."""
    if not killed(k):
        if name == "syscall":
            kill(k, Vector.INVALID_OPCODE, k.cpu.reg("eip"))
        else:
            kill(k, Vector.GENERAL_PROTECTION, k.cpu.reg("eip"), error_code=0)


def kill(k, vector, eip, cr2=None, error_code=None):
    """End the current process (every thread) for a CPU exception in the
    current thread, with a full report naming that thread."""
    p = k.current
    fault = {"vector": int(vector), "eip": eip, "cr2": cr2,
             "error_code": error_code, "instruction": disassemble(p, eip),
             "tid": k.thread.tid}
    k.notify("fatal", p, fault)             # a debugger stops here first
    k.console.message(describe_fault(p, fault))
    k.exit_process(p, EXC_STATUS_BASE + vector, fault)
    k.end_slice()


def disassemble(p, eip):
    """The instruction at eip as the process sees it, or None if unmapped."""
    code = ring3.fetch_bytes(p.aspace, eip)
    for insn in _disasm.disasm(code, eip):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return None


def describe_fault(p, f):
    name = VECTOR_NAMES.get(f["vector"], f"vector {f['vector']}")
    tid = f.get("tid", p.pid)
    who = f"pid {p.pid}" if tid == p.pid else f"tid {tid} of pid {p.pid}"
    text = (f"{who} ({p.name}) killed: {name} (vector {f['vector']}) "
            f"at eip {f['eip']:#010x}: {f['instruction'] or '<unreadable>'}")
    if f.get("line"):                # an observer's file:line
        text += f" [{f['line']}]"
    if f["cr2"] is not None:
        text += f"; cr2={f['cr2']:#010x}"
    if f["error_code"] is not None:
        text += f" error_code={f['error_code']:#x}"
        if f["vector"] == Vector.PAGE_FAULT:
            text += f" ({pf_error_text(f['error_code'])})"
    return text + f"; status {EXC_STATUS_BASE + f['vector']}"


def pf_error_text(err):
    return ", ".join(("user" if err & x86.PF_U else "supervisor",
                      "fetch" if err & x86.PF_I else
                      ("write" if err & x86.PF_W else "read"),
                      "protection" if err & x86.PF_P else "not present"))


def _soft_int_length(k, intno, eip):
    """Length of the int n / int3 / into that just trapped (EIP is after it):
    the last byte tells the one-byte forms (CC, CE) from CD imm8."""
    p = k.current
    code = ring3.fetch_bytes(p.aspace, eip - 1, 1)
    last = code[0] if code else None
    if (intno == Vector.BREAKPOINT and last == 0xCC) or \
            (intno == Vector.OVERFLOW and last == 0xCE):
        return 1
    return 2
