"""Calls 0-7 as docs/abi.md states them, booted from userland/tests: registers
and flags preserved (regs.s), bad arguments (sysargs.c), the process table
(nproc.c), wait and exit statuses and the entry state (waits.c, entry.s)."""

import pytest

REG_NAMES = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eflags"]


def explain_regs(status):
    """regs.s exits 1000 + 10 * row + register index on a mismatch."""
    if status < 1000:
        return f"status {status}"
    row, reg = divmod(status - 1000, 10)
    return f"row {row} of regs.s: {REG_NAMES[reg]} not preserved"


@pytest.mark.parametrize("quantum", [0, 7, 1000])
def test_registers_and_flags_survive_every_call(run_userland, quantum):
    r = run_userland("regs", "spinner", quantum=quantum)
    assert r.status(1) == 0, explain_regs(r.status(1))
    assert r.statuses == [0, 0, 0x41, 0x41]       # the two codea children
    assert r.stdout == "regsregs"
    assert r.stats["context_switches"] > 10
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def test_bad_arguments_give_errno_and_change_nothing(run_userland):
    r = run_userland("sysargs")
    assert r.status(1) == 0, r.stderr
    # Exactly the successful writes: a -EFAULT write wrote nothing.
    assert r.stdout == "ok\nZ\nsysargs: ok\n"
    assert r.stderr == ""
    assert [(p["uid"], p["status"]) for p in r.report["processes"]] == [
        (42, 0), (0, 7), (0, 7), (0, 0), (42, 42)]
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def test_process_table_full_is_eagain(run_userland):
    r = run_userland("nproc")
    assert r.status(1) == 0, r.stderr
    n = int(r.stdout.split()[1])
    assert n >= 255
    assert len(r.report["processes"]) == n + 2     # plus one after a reap
    assert [p["pid"] for p in r.report["processes"]] == list(range(1, n + 3))
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


WAITS = [  # pid -> (name, status) for waits.c booted with entry.s
    ("waits", 0), ("entry", 0),
    # exit statuses, signed 32-bit
    ("waits", -1), ("waits", -2**31), ("waits", 2**31 - 1), ("waits", 255),
    ("waits", 256), ("waits", 270), ("waits", -35), ("waits", 1),
    # wait(-1) and wait(pid)
    ("waits", 0), ("waits", 2), ("waits", 4), ("waits", 5), ("waits", 0),
    ("waits", 270),                              # the faulting child
    ("waits", 4), ("waits", 3),                  # child, grandchild
    ("waits", 20), ("waits", 40),                # orphan's parent, orphan
    ("waits", 77), ("entry", 77),                # entry state with arg 77
]


def test_wait_semantics_and_exit_statuses(run_userland):
    r = run_userland("waits", "entry")
    assert r.status(1) == 0, r.stderr
    assert [(p["pid"], p["name"], p["status"])
            for p in r.report["processes"]] == [
        (pid, name, st) for pid, (name, st) in enumerate(WAITS, 1)]
    faulted = r.proc(16)["fault"]
    assert (faulted["vector"], faulted["cr2"], faulted["error_code"]) == (
        14, 0, 6)
    assert all(p["fault"] is None for p in r.report["processes"]
               if p["pid"] != 16)
    assert "deadlock" not in r.stderr
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def test_boot_processes_get_pids_in_order_before_any_runs(run_userland):
    # waits spawns at once; its first child must come after every boot
    # process; each entry.s sees EAX = 0.
    r = run_userland("entry", "waits", "entry", "entry")
    assert [(p["pid"], p["name"]) for p in r.report["processes"][:5]] == [
        (1, "entry"), (2, "waits"), (3, "entry"), (4, "entry"), (5, "waits")]
    assert r.statuses[:4] == [0, 0, 0, 0], r.stderr


LONG = """
    mov ecx, 20000000
spin:
    dec ecx
    jnz spin
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
"""


def test_timer_preempts_cpu_bound_processes_only_when_others_wait(
        run_sources):
    two = run_sources({"a.s": LONG, "b.s": LONG})
    assert two.statuses == [0, 0]
    assert two.stats["context_switches"] >= 3      # 5 ms slices, ~0.1 s each
    one = run_sources({"c.s": LONG})
    assert one.stats["context_switches"] == 1       # nobody to switch to
