"""Threads (calls 40-43), booted: the rules and every error status of the
ABI's table, threads of one process running at once on several CPUs over
one address space, exit and faults ending every thread, fork from a
thread, futexes between threads, deadlocks between joiners. The checker
runs after every system call and fault; every run ends with its frames
free again."""

import pytest

from kernel.proc import process as proc
from tests.kernel.proc.test_fork import DEADLOCK, balanced, boot_arg

MODES = [(paging, cpus) for paging in ("32", "pae") for cpus in (1, 2, 3)]
FAULT_STATUS = 256 + 14


def threads_of(r, pid=1):
    return {t["tid"]: t["status"] for t in r.proc(pid)["threads"]}


@pytest.mark.parametrize("paging,cpus", MODES)
def test_threads_sum_one_array_exactly(run_userland, paging, cpus):
    r = run_userland("threads", paging=paging, cpus=cpus, seed=cpus)
    assert r.statuses == [0], r.stderr
    assert "2147450880 (expected 2147450880)" in r.stdout
    assert r.stats["threads_created"] == 4
    assert threads_of(r) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    balanced(r)


@pytest.mark.parametrize("seed,cpus", [(0, 3), (1, 3), (2, 3), (0, 4),
                                       (1, 4)])
def test_64_threads_lose_no_lock_xadd_update(seed, cpus):
    r = boot_arg("threads_xadd", 64, cpus=cpus, seed=seed)
    assert r.statuses == [0], r.stderr
    assert "64 threads, total 19200" in r.stdout
    assert r.stats["threads_created"] == 64
    balanced(r)


def test_64_threads_lose_plain_updates_and_races_name_them():
    """The same adds as a load and a store: on 3 CPUs some seed loses
    updates (a thread's store overwrites another's), and --races reports
    the plain accesses to the total between two threads."""
    totals = []
    for seed in range(3):
        r = boot_arg("threads_xadd", -64, cpus=3, seed=seed)
        assert r.statuses == [0], r.stderr
        totals.append(int(r.stdout.split("total ")[1]))
    assert all(t <= 19200 for t in totals) and min(totals) < 19200
    r = boot_arg("threads_xadd", -64, cpus=3, seed=0, races=True)
    races = r.report["races"]
    assert races and all(s["tid"] != 1 and s["va"] is not None
                         for race in races for s in (race["a"], race["b"]))
    balanced(r)


def test_threads_of_one_process_run_on_two_cpus_at_once():
    seen = []

    class Watch:
        def on_slice_end(self, cpu, p, t):
            seen.append((cpu.index, t.tid))
    r = boot_arg("threads_xadd", 4, cpus=2, quantum=200)
    r2 = boot_arg("threads_xadd", 4, cpus=2, quantum=200)
    assert r.stdout == r2.stdout
    from tests.conftest import boot
    from tools.toolchain.programs import Programs
    r = boot(Programs(), ["threads"], cpus=2, quantum=500,
             observers=[Watch()])
    assert r.statuses == [0]
    tids_on = {c: {t for cc, t in seen if cc == c} for c in (0, 1)}
    assert len(tids_on[0] | tids_on[1]) == 5
    assert tids_on[0] - {1} and tids_on[1] - {1}   # threads on both CPUs
    assert r.report["cpus"][1]["processes_run"] == [1]


@pytest.mark.parametrize("paging,cpus", MODES)
def test_rules_and_error_statuses(paging, cpus):
    r = boot_arg("threads_rules", 0, paging=paging, cpus=cpus)
    assert r.statuses == [0, 0], r.stderr
    assert r.stdout == "threads_rules: ok\n"
    # tids and pids from one counter: 2 a thread, 3 the fork child, 4 a thread
    assert threads_of(r) == {1: 0, 2: 42, 4: 42}
    assert threads_of(r, 3) == {3: 0}
    balanced(r)


@pytest.mark.parametrize("cpus", (1, 2))
def test_exit_in_a_thread_ends_every_thread(cpus):
    r = boot_arg("threads_rules", 1, cpus=cpus)
    assert r.statuses == [9]
    assert threads_of(r) == {1: 9, 2: 9, 3: 9}
    balanced(r)


@pytest.mark.parametrize("paging,cpus", MODES)
def test_a_fault_in_one_thread_kills_its_siblings(paging, cpus):
    r = boot_arg("threads_rules", 2, paging=paging, cpus=cpus)
    assert r.statuses == [FAULT_STATUS]
    f = r.proc(1)["fault"]
    assert (f["tid"], f["vector"], f["cr2"]) == (3, 14, 0x10)
    assert threads_of(r) == {1: FAULT_STATUS, 2: FAULT_STATUS,
                             3: FAULT_STATUS}
    assert "tid 3 of pid 1 (threads_rules) killed: page fault" in r.stderr
    balanced(r)


@pytest.mark.parametrize("cpus", (1, 2))
def test_fork_from_a_thread_copies_only_that_thread(cpus):
    r = boot_arg("threads_rules", 3, cpus=cpus)
    assert r.statuses == [0, 5], r.stderr
    assert threads_of(r, 3) == {3: 5}          # one thread: pid == tid
    assert threads_of(r) == {1: 0, 2: 5}
    balanced(r)


def test_the_last_thread_exit_is_the_process_exit():
    r = boot_arg("threads_rules", 4)
    assert r.statuses == [42]
    assert threads_of(r) == {1: 7, 2: 42}
    balanced(r)


@pytest.mark.parametrize("cpus", (1, 2, 3))
def test_a_futex_mutex_works_between_threads(cpus):
    r = boot_arg("threads_rules", 5, cpus=cpus, seed=cpus)
    assert r.statuses == [0], r.stdout
    assert r.stdout == "threads_rules: counter 4000\n"
    assert r.report["ipc"]["futex_waits"] > 0      # they met on one key


def test_threads_joining_each_other_are_a_deadlock():
    r = boot_arg("threads_rules", 6, cpus=2)
    assert r.statuses == [DEADLOCK]
    assert "deadlock: pid 1 (threads_rules) blocked forever: join thread " \
           "2" in r.stderr
    assert "deadlock: tid 2 of pid 1 (threads_rules) blocked forever: " \
           "join thread 1" in r.stderr
    balanced(r)


def test_a_full_table_is_eagain(run_sources, monkeypatch):
    monkeypatch.setattr(proc, "NPROC", 3)
    r = run_sources({"full.s": """
        mov eax, SYS_THREAD_CREATE; lea ebx, [park]; mov ecx, 0xC0000000
        int 0x80
        mov eax, SYS_THREAD_CREATE; lea ebx, [park]; mov ecx, 0xC0000000
        int 0x80
        mov eax, SYS_THREAD_CREATE; lea ebx, [park]; mov ecx, 0xC0000000
        int 0x80
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    park:
        mov eax, SYS_YIELD
        int 0x80
        jmp park
    """})
    assert r.statuses == [-11]                 # -EAGAIN on the third
    assert r.stats["threads_created"] == 2


def test_a_new_thread_starts_with_the_registers_the_abi_names(run_sources):
    r = run_sources({"regs.s": """
        mov ebx, 0x77; mov esi, 0x77; mov edi, 0x77; mov ebp, 0x77
        mov eax, SYS_THREAD_CREATE; lea ebx, [start]
        mov ecx, 0xBFFF8000; mov edx, 0x1234
        int 0x80
        mov ebx, eax
        mov eax, SYS_THREAD_JOIN; mov ecx, 0
        int 0x80
    park:
        mov eax, SYS_YIELD
        int 0x80
        jmp park
    start:
        pushfd                                  # before any flag changes
        cmp eax, 0x1234; jne bad
        cmp esp, 0xBFFF7FFC; jne bad
        or ebx, ecx; or ebx, edx; or ebx, esi; or ebx, edi; or ebx, ebp
        jnz bad
        pop eax
        cmp eax, 0x202; jne bad
        mov eax, SYS_GETTID
        int 0x80
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    bad:
        mov ebx, 99
        mov eax, SYS_EXIT
        int 0x80
    """})
    assert r.statuses == [2]                  # the new thread's tid


def test_the_checker_finds_a_thread_on_another_directory():
    import io
    from kernel.kernel import Console
    from kernel.proc.thread import Thread
    from tools.observe.boot import new_kernel
    from tools.observe.check import Checker, InvariantViolation
    from tools.toolchain.programs import Programs
    k = new_kernel(Programs(), console=Console(io.BytesIO(), io.BytesIO()),
                   check=True)
    p = k.create_process("threads")
    checker = k.observer(Checker)
    first = p.threads[p.pid]
    ctx = k.user_context(p.aspace, 0x401000, 0xC0000000, 0)
    p.threads[99] = p.live[99] = Thread(99, p, ctx)
    checker.check_threads()                       # same directory: fine
    ctx.set("cr3", first.ctx.get("cr3") + 0x1000)
    with pytest.raises(InvariantViolation, match="share one directory"):
        checker.check_threads()


@pytest.mark.parametrize("seed", range(2))
def test_races_between_threads_name_their_tids(seed):
    r = boot_arg("threads_race", 0, cpus=2, seed=seed, races=True)
    assert r.statuses == [0]
    races = r.report["races"]
    assert races
    tids = {(s["pid"], s["tid"]) for race in races for s in (race["a"],
                                                             race["b"])}
    assert tids <= {(1, 2), (1, 3)} and len(tids) == 2
    assert "by tid 2 of pid 1 (threads_race)" in r.stderr


@pytest.mark.parametrize("seed", range(2))
def test_thread_create_and_join_order_accesses(seed):
    r = boot_arg("threads_race", 1, cpus=2, seed=seed, races=True)
    assert r.statuses == [0]
    assert r.report["races"] == []


def test_maps_trace_and_explorer_show_threads(ia32k, tmp_path):
    page = tmp_path / "t.html"
    r = ia32k("run", "--cpus", "2", "--maps", "--html", str(page),
              "userland/demo/threads.c")
    assert r.returncode == 0, r.stderr
    assert "  threads 1, 2 (ended 0), 3 (ended 0), 4 (ended 0), 5 (ended 0)" \
        in r.stderr
    assert '"threads":[1,2,3,4,5]' in page.read_text()
    t = ia32k("trace", "--cpus", "2", "--seed", "1", "userland/demo/stale.c")
    assert "shootdown pid 1: cpu 0 flushed the TLB of cpu 1 (unmap)" in \
        t.stdout


@pytest.mark.parametrize("seed", range(2))
def test_races_between_threads_on_private_memory(seed):
    r = boot_arg("threads_race", 2, cpus=2, seed=seed, races=True)
    assert r.statuses == [0]
    races = r.report["races"]
    assert races and all(s["tid"] in (2, 3) and s["va"] is not None
                         for race in races for s in (race["a"], race["b"]))
    balanced(r)


def test_the_demo_has_no_race_create_and_join_order_it(run_userland):
    """main fills the array before it creates the threads and reads their
    slices after it joins them; the total is added with lock xadd."""
    r = run_userland("threads", cpus=2, seed=3, races=True)
    assert r.statuses == [0]
    assert r.report["races"] == []


def test_a_seed_interleaves_threads_the_same_way_every_time():
    def run(seed):
        slices = []

        class Watch:
            def on_slice_end(self, cpu, p, t):
                slices.append((cpu.index, t.tid, cpu.instructions))
        from tests.conftest import boot
        from tools.toolchain.programs import Programs
        r = boot(Programs(), ["threads"], cpus=3, seed=seed,
                 observers=[Watch()])
        return slices, r.stats["instructions"], r.stdout
    first = run(5)
    assert run(5) == first
    assert run(6)[0] != first[0]
