"""Where each live process is when a run is stopped early (Ctrl-C,
--timeout, --max-instructions): its pid, state, EIP, the instruction there
and, for a program with debug information, file:line."""

from kernel.trap import disassemble
from tools.observe.debuginfo import program_line


def positions(k):
    """One dict per live process, by pid: pid, name, state, eip,
    instruction (None if unreadable) and line (None without debug info)."""
    held = {id(pc.loaded): pc.cpu for pc in k.sched.percpu
            if pc.loaded is not None}
    out = []
    for p in sorted(k.procs, key=lambda p: p.pid):
        if not p.alive:
            continue
        cpu = held.get(id(p))
        eip = cpu.reg("eip") if cpu is not None else p.ctx.get("eip")
        out.append({"pid": p.pid, "name": p.name, "state": p.state.value,
                    "eip": eip, "instruction": disassemble(p, eip)
                    if p.aspace is not None else None,
                    "line": program_line(k.programs, p.name, eip)})
    return out


def position_text(w):
    """'pid 1 (spin) running at eip 0x00400000: jmp 0x400000 [spin.c:3]'"""
    text = (f"pid {w['pid']} ({w['name']}) {w['state']} at eip "
            f"{w['eip']:#010x}: {w['instruction'] or '<unreadable>'}")
    return text + (f"  [{w['line']}]" if w["line"] else "")
