"""Find, at boot, what Unicorn keeps where inside a saved context.

docs/unicorn.md fact 1: after a hook handles an exception, the CPU's "exception in
progress" field must be reset by hand, and the #PF error code has no register
id. Both live at build-specific offsets inside the context bytes, so instead
of trusting constants we provoke known faults in a scratch address space and
see which offsets change as the SDM says they must. The same run yields the
first ring-3 context: the one every process's context is cloned from.
"""

import struct

from emu import x86
from emu.cpu import GPRS, Layout

USER_VA = 0x00400000
# Hand-encoded probes, one per 16-byte slot at USER_VA.
PROBES = {
    "write_np": bytes.fromhex("a300100000"),    # mov [0x1000], eax  -> #PF 6
    "read_np": bytes.fromhex("a100100000"),     # mov eax, [0x1000]  -> #PF 4
    "divide": bytes.fromhex("31c9f7f1"),        # xor ecx,ecx; div ecx -> #DE
    "soft_pf": bytes.fromhex("cd0e"),           # int 0x0e (software)
    "syscall": bytes.fromhex("cd80"),           # int 0x80
}


class CalibrationError(Exception):
    pass


def calibrate(m, kernbase, kernel_pdes, scratch):
    """Return (Layout, ring-3 template Context) for CPU m.

    kernel_pdes: (index, value) pairs for the kernel half; scratch: physical
    addresses of four free frames (page directory, page table, code, stack).
    """
    pd, pt, code, kstack = scratch
    _build_scratch_space(m, kernel_pdes, pd, pt, code)
    m.enable_paging(pd, x86.PAGING_32)
    entry = USER_VA + 16 * list(PROBES).index("syscall")
    template = _enter_ring3(m, kernbase, kstack, entry)
    size = m.context_size
    seen = {}
    for i, (name, _) in enumerate(PROBES.items()):
        seen[name] = _probe(m, template, USER_VA + 16 * i)
    clean = _words(template)
    layout = Layout(size=size, regs=_find_regs(m, template),
                    error_code=_one(seen, clean, "error_code",
                                    write_np=6, read_np=4),
                    old_exception=_one(seen, clean, "old_exception",
                                       write_np=x86.Vector.PAGE_FAULT,
                                       read_np=x86.Vector.PAGE_FAULT,
                                       divide=x86.Vector.DIVIDE_ERROR,
                                       clean=-1, syscall=-1),
                    exception_is_int=0)
    layout.exception_is_int = _is_int_offset(seen, clean, layout.error_code)
    template.layout = layout
    return layout, template


def _build_scratch_space(cpu, kernel_pdes, pd, pt, code):
    m = cpu.machine
    for f in (pd, pt, code):
        m.zero(f, x86.PAGE_SIZE)
    for i, v in kernel_pdes:
        m.write32(pd + 4 * i, v)
    m.write32(pd + 4 * x86.pdx(USER_VA), pt | x86.PTE_P | x86.PTE_W | x86.PTE_U)
    m.write32(pt + 4 * x86.ptx(USER_VA), code | x86.PTE_P | x86.PTE_W | x86.PTE_U)
    for i, probe in enumerate(PROBES.values()):
        m.write(code + 16 * i, probe)


def _enter_ring3(m, kernbase, kstack, entry):
    """Run a ring-0 iretd into CPL 3 at entry (an int 0x80); return the
    context the syscall trap leaves, the template of every ring-3 context."""
    m.load_kernel_segments()
    tramp = kstack + 0xF00
    m.machine.write(tramp, b"\xcf")            # iretd
    frame = kstack + 0xE00
    m.machine.write(frame, struct.pack("<5I", entry, x86.selector(x86.SEG_UCODE, 3),
                               x86.FL_USER_INIT, kernbase,
                               x86.selector(x86.SEG_UDATA, 3)))
    m.set_reg("esp", kernbase + frame)
    saved = m.on_interrupt
    m.on_interrupt = lambda intno: m.stop()
    try:
        m.run(kernbase + tramp)
    finally:
        m.on_interrupt = saved
    if m.reg("cs") & 3 != 3 or m.reg("eip") != entry + 2:
        raise CalibrationError("iretd did not reach ring 3")
    ctx = m.new_context()
    ctx.save()
    return ctx


def _probe(m, template, eip):
    """Run from eip with a clean state; return the context words at the trap."""
    got = {}

    def on_interrupt(intno):
        ctx = m.new_context()
        ctx.save()
        got["words"] = _words(ctx)
        m.stop()

    saved = m.on_interrupt
    m.on_interrupt = on_interrupt
    try:
        template.restore()
        m.flush_tlb()
        m.run(eip)
    finally:
        m.on_interrupt = saved
    if "words" not in got:
        raise CalibrationError(f"probe at {eip:#x} did not trap")
    return got["words"]


def _words(ctx):
    n = len(ctx.view) // 4
    return struct.unpack_from(f"<{n}i", ctx.view, 0)


def _one(seen, base, what, **want):
    """The single offset whose value matches every wanted probe result."""
    rows = dict(seen, clean=base)
    (k0, v0), *rest = want.items()
    cands = [i for i, w in enumerate(rows[k0]) if w == v0]
    for k, v in rest:
        cands = [i for i in cands if rows[k][i] == v]
    if len(cands) != 1:
        raise CalibrationError(f"{what}: {len(cands)} candidate offsets")
    return 4 * cands[0]


def _is_int_offset(seen, clean, near):
    """exception_is_int: 1 for software ints, 0 for faults; nearest near."""
    cands = [4 * i for i in range(len(clean))
             if seen["soft_pf"][i] == 1 and seen["syscall"][i] == 1
             and seen["write_np"][i] == 0 and seen["divide"][i] == 0]
    if not cands:
        raise CalibrationError("exception_is_int: no candidate offset")
    return min(cands, key=lambda o: abs(o - near))


def _find_regs(m, template):
    """Offsets of the general registers and EIP inside the context."""
    marks = {r: 0x5A000000 + 0x111 * (i + 1) for i, r in enumerate(GPRS)}
    marks["eip"] = USER_VA + 0x30
    marks["cr3"] = 0x5A7F3000    # context_reg_write of CR3 crashes 2.1.4
    marks["cr2"] = 0x5A7E2000    # read from the saved context at a #PF
    template.restore()
    for r, v in marks.items():
        m.set_reg(r, v)
    ctx = m.new_context()
    ctx.save()
    words = struct.unpack_from(f"<{len(ctx.view) // 4}I", ctx.view, 0)
    regs = {}
    for r, v in marks.items():
        if v not in words:
            raise CalibrationError(f"register {r} not found in context")
        regs[r] = 4 * words.index(v)
    template.restore()
    return regs
