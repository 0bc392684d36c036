"""fork (call 8), copy-on-write and shared program text, booted: xv6
cowtest's cases in ia32k form plus docs/abi.md's rules. The checker runs after
every system call and fault (conftest), so every run also proves the
refcounts and the COW invariants; every run ends with frames free at the
end equal to frames free at boot."""

import io

import pytest

from tests.conftest import Run, boot
from emu.x86 import PAGE_SIZE, PTE_ADDR, PTE_COW, PTE_P, PTE_W
from kernel.proc import loader
from kernel.proc import process as proc
from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.observe.report import build_report
from tools.observe.trace import Tracer
from tools.toolchain.programs import Programs

MB = 1 << 20
DEADLOCK = -35


def balanced(r):
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


def boot_arg(name, arg, **kw):
    """Boot userland program name with spawn argument arg, run it."""
    out, err = io.BytesIO(), io.BytesIO()
    k = new_kernel(Programs(), console=Console(out, err), check=True, **kw)
    p = k.create_process(name, arg=arg)
    assert not isinstance(p, int)
    k.run()
    return Run(k, build_report(k), out.getvalue().decode("latin-1"),
               err.getvalue().decode("latin-1"))


class Frames:
    """An observer noting, at each exit, the frame and flags of one
    virtual page in the exiting process."""

    def __init__(self, va):
        self.va, self.seen = va, {}

    def on_exit(self, p):
        if p.aspace is not None:
            self.seen[p.pid] = p.aspace.pte(self.va)


def test_child_is_a_copy_and_writes_stay_private(run_userland):
    r = run_userland("fork_basic")
    assert r.statuses == [0, 3], r.stderr
    assert r.stdout == "child 2: counter 100\nparent: counter 42, " \
                       "child 2 exited 3\n"
    assert r.stats["cow_faults"] > r.stats["cow_copies"] > 0  # some reuse
    balanced(r)


def test_child_gets_every_register_eflags_included(run_userland):
    r = run_userland("fork_regs")
    assert r.statuses == [0, 0], r.stderr     # 18: the child's EFLAGS
    balanced(r)


def test_two_thirds_of_ram_forks_only_with_cow():
    r = boot(Programs(), ["fork_twothirds"], memory=8 * MB)
    assert r.statuses == [0, 0], r.stderr
    assert r.stdout == "fork_twothirds: ok\n"
    pages = 1344
    assert 2 * pages > r.stats["frames_total"]  # an eager copy cannot fit
    assert 8 <= r.stats["cow_copies"] < 16
    balanced(r)


def test_cow_fault_without_a_frame_kills_the_writer_only():
    r = boot(Programs(), ["fork_cow_oom"], memory=4 * MB)
    assert r.statuses == [0, 270], r.stderr
    assert r.stdout == "fork_cow_oom: ok\n"
    f = r.proc(2)["fault"]
    assert (f["vector"], f["error_code"]) == (14, 7)   # user write, present
    assert "pid 2 (fork_cow_oom): out of memory" in r.stderr
    balanced(r)


def test_three_processes_write_overlapping_pages(run_userland):
    r = run_userland("fork_three", quantum=5000)
    assert r.statuses == [0, 0, 0], r.stderr
    assert r.stdout == "fork_three: ok\n"
    assert r.stats["cow_copies"] >= 8      # 4 + 4 + 4 pages, less reuse
    balanced(r)


def test_kernel_copyout_into_cow_pages_breaks_them(run_userland):
    r = run_userland("fork_copyout")
    assert r.statuses == [0, 9], r.stderr
    assert r.stdout == "fork_copyout: ok\n"
    balanced(r)


def test_copyout_break_is_traced_as_cow():
    out = io.BytesIO()
    tracer = Tracer(out)
    k = new_kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
                   check=True)
    tracer.attach(k)
    k.boot(["fork_copyout"])
    k.run()
    text = out.getvalue().decode()
    assert "\nfork   pid 2 0x00400000 (image fork_copyout)" in text
    cow = [ln for ln in text.splitlines() if ln.startswith("cow ")]
    assert cow and all(" write " in ln for ln in cow)   # recv's copy-out
    outcomes = [ln.split()[0] for ln in text.splitlines()
                if ln.startswith("       cow-")]
    assert "cow-copy" in outcomes


def test_fork_storm_with_the_checker(run_userland):
    r = run_userland("fork_storm", quantum=3000)
    assert len(r.statuses) == 31 and set(r.statuses) == {0}, r.stderr
    assert r.stdout.endswith("fork_storm: ok\n")
    balanced(r)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cow_on_two_cpus(run_userland, seed):
    r = run_userland("fork_cpus", cpus=2, seed=seed, quantum=2000)
    assert r.statuses == [0, 0], r.stderr
    assert set(r.report["cpus"][1]["processes_run"]) & {1, 2}
    balanced(r)


def test_fork_inherits_shm_attachments_and_flags(run_userland):
    seen = Frames(0x40000000)
    r = run_userland("fork_shm", observers=[seen])
    assert r.statuses == [0, 0, 270], r.stderr
    assert r.stdout == "fork_shm: ok\n"
    assert r.proc(3)["fault"]["error_code"] == 7
    frame = {pid: pte & PTE_ADDR for pid, pte in seen.seen.items()}
    assert frame[1] == frame[2] == frame[3]           # one frame, no copy
    assert all(pte & PTE_W and not pte & PTE_COW for pte in seen.seen.values())
    balanced(r)


def test_futex_word_in_shm_stays_shared_across_fork():
    r = boot_arg("fork_futex", 0)
    assert r.statuses == [0, 3], r.stderr
    balanced(r)


def test_private_futex_word_never_meets_across_fork():
    r = boot_arg("fork_futex", 1)              # one frame still: no meeting
    assert r.statuses == [0, DEADLOCK], r.stderr
    assert "parent did not write, woke nobody" in r.stdout
    balanced(r)
    r = boot_arg("fork_futex", 2)              # write first: never meet
    assert r.statuses == [0, DEADLOCK], r.stderr
    assert "parent wrote first, woke nobody" in r.stdout
    assert "deadlock: pid 2 (fork_futex) blocked forever: futex" in r.stderr
    balanced(r)


def test_queued_messages_are_not_copied(run_userland):
    r = run_userland("fork_msgs")
    assert r.statuses == [0, 0, 0], r.stderr
    balanced(r)


def test_full_table_is_eagain_with_nothing_created(monkeypatch):
    monkeypatch.setattr(proc, "NPROC", 16)
    r = boot(Programs(), ["fork_fill"])
    assert r.statuses == [-11] + [0] * 15, r.stderr
    balanced(r)


def test_no_frame_for_tables_is_enomem_with_nothing_leaked():
    r = boot(Programs(), ["fork_fill"], memory=4 * MB)
    n = len(r.statuses) - 1
    assert r.statuses == [-12] + [0] * n, r.stderr
    assert r.stderr == ""                                  # nobody killed
    assert 100 < n < proc.NPROC
    assert r.stats["cow_faults"] == 0       # children cost only their tables
    balanced(r)


def test_64_processes_of_one_program_hold_one_copy():
    image = Programs().get("text64")
    pages = len(loader.page_perms(image))
    memory = 8 * MB
    assert 64 * pages * PAGE_SIZE > memory     # 64 private copies: no room
    r = boot(Programs(), ["text64"] * 64, memory=memory)
    assert r.statuses == [0] * 64, r.stderr
    assert r.stats["text_loads"] == 1
    assert r.stats["cow_copies"] >= 64        # each wrote its counter
    balanced(r)


def test_text_frames_are_shared_read_only_and_go_with_the_last_user():
    seen = Frames(0x00400000)
    r = boot(Programs(), ["text64", "text64"], observers=[seen])
    assert r.statuses == [0, 0]
    (a, b) = seen.seen.values()
    assert a == b and a & PTE_P and not a & (PTE_W | PTE_COW)
    assert r.stats["text_frames"] == 0 and r.kernel.text.texts == {}
    balanced(r)
