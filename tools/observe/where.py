"""Where each live thread is when a run is stopped early (Ctrl-C,
--timeout, --max-instructions): its pid (and tid), state, EIP, the instruction there
and, for a program with debug information, file:line."""

from kernel.trap import disassemble
from tools.observe.debuginfo import program_line


def positions(k):
    """One dict per live thread, by process and tid: pid, tid, name,
    state, eip, instruction (None if unreadable) and line (None without
    debug info)."""
    held = {id(pc.loaded): pc.cpu for pc in k.sched.percpu
            if pc.loaded is not None}
    out = []
    for p in sorted(k.procs, key=lambda p: p.pid):
        for t in p.live_threads():
            cpu = held.get(id(t))
            eip = cpu.reg("eip") if cpu is not None else t.ctx.get("eip")
            out.append({"pid": p.pid, "tid": t.tid, "name": p.name,
                        "state": t.state.value, "eip": eip,
                        "instruction": disassemble(p, eip)
                        if p.aspace is not None else None,
                        "line": program_line(k.programs, p.name, eip)})
    return out


def position_text(w):
    """'pid 1 (spin) running at eip 0x00400000: jmp 0x400000 [spin.c:3]'"""
    who = f"pid {w['pid']}" + (f" tid {w['tid']}" if w.get("tid", w["pid"])
                                != w["pid"] else "")
    text = (f"{who} ({w['name']}) {w['state']} at eip "
            f"{w['eip']:#010x}: {w['instruction'] or '<unreadable>'}")
    return text + (f"  [{w['line']}]" if w["line"] else "")
