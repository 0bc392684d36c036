"""The PCT scheduler policy (kernel/sched/pct.py): random distinct priorities,
the highest runnable process runs, change points demote the process that
executed that exact step, yields and spinning cannot live-lock, and the
seed replays the schedule. The default FIFO policy is unchanged."""

import io
from collections import deque
from types import SimpleNamespace

from kernel.kernel import Console, Kernel
from tools.observe.boot import new_kernel
from kernel.sched.pct import PctPolicy
from kernel.sched.scheduler import FifoPolicy
from tools.toolchain.programs import Programs


def procs(n):
    return [SimpleNamespace(pid=i + 1, tid=i + 1) for i in range(n)]


def test_priorities_are_distinct_and_the_highest_runs():
    pol = PctPolicy(seed=5, depth=1, steps=1000)
    ps = procs(6)
    order = []
    runq = deque(ps)
    while runq:
        order.append(pol.pick(runq))
    prios = [pol.priority(p) for p in order]
    assert len(set(prios)) == 6
    assert prios == sorted(prios, reverse=True)


def test_seed_replays_priorities_and_change_points():
    def draw(seed):
        pol = PctPolicy(seed, depth=4, steps=10_000)
        runq = deque(procs(5))
        return [pol.pick(runq).pid for _ in range(5)], pol.changes
    assert draw(3) == draw(3)
    assert len({str(draw(s)) for s in range(10)}) > 1
    _, changes = draw(3)
    assert len(changes) == 3 and changes == sorted(set(changes))
    assert all(1 <= c <= 10_000 for c in changes)


def test_slices_end_exactly_at_a_change_point_which_demotes_the_runner():
    pol = PctPolicy(seed=1, depth=3, steps=5000, quantum=400)
    a, b = procs(2)
    runq = deque([a, b])
    first = pol.pick(runq)
    cp = pol.changes[0]
    now = 0
    while now < cp:
        n = pol.slice_length(first, now)
        assert now + n <= cp and n <= 400
        pol.ran(first, now, now + n, False)
        now += n
    assert pol.priority(first) == (0, 2)          # d - 1
    assert pol.preempts(first, deque([b]))        # b now outranks it
    assert pol.log[0][:2] == (cp, first.pid)


def test_a_yield_puts_the_process_below_everyone():
    pol = PctPolicy(seed=2, depth=2, steps=100)
    a, b, c = procs(3)
    runq = deque([a, b, c])
    top = pol.pick(runq)
    pol.prio[top.pid] = (0, 1)            # as if a change point demoted it
    nxt = pol.pick(runq)
    pol.ran(nxt, 0, 10, yielded=True)
    assert all(pol.priority(nxt) < pol.priority(p) for p in (a, b, c)
               if p is not nxt)


def test_a_spinner_is_demoted_after_the_expected_run_length():
    pol = PctPolicy(seed=0, depth=1, steps=3000, quantum=1000)
    a, b = procs(2)
    runq = deque([a, b])
    hi = pol.pick(runq)
    now, turns = 0, 0
    while not pol.preempts(hi, runq):
        pol.ran(hi, now, now + 1000, False)
        now += 1000
        turns += 1
        assert turns < 10
    assert turns == 3 and pol.log[-1][2] == "fairness"


def run(prog, cpus=1, check=False, **kw):
    out = io.BytesIO()
    k = new_kernel(Programs(), cpus=cpus, console=Console(out, io.BytesIO()),
                   check=check, **kw)
    k.create_process(prog)
    k.run()
    return k, out.getvalue().decode()


def test_pct_runs_real_programs_to_the_same_end():
    """Every seed ends (no live-lock on yields, futexes, spinlocks)."""
    for seed in range(4):
        pol = PctPolicy(seed, depth=3, steps=20_000, quantum=500)
        k, out = run("sync_semcond", policy=pol, check=True)
        assert all(p.status == 0 for p in k.procs), out
        k2, out2 = run("sync_semcond",
                       policy=PctPolicy(seed, 3, 20_000, 500))
        assert (out2, k2.stats.instructions) == (out, k.stats.instructions)


def test_on_two_cpus_the_two_highest_priorities_run():
    """Three CPU-bound processes, two CPUs: the lowest-priority one runs
    only once another has ended."""
    pol = PctPolicy(seed=4, depth=1, steps=10 ** 9, quantum=300, cpus=2)
    progs = Programs()
    out = io.BytesIO()
    k = Kernel(progs, cpus=2, policy=pol, console=Console(out, io.BytesIO()))
    name = progs.add(_spinner_path())
    k.boot([name, name, name])
    ran = {}

    class Watch:
        def on_exit(self, p):
            ran[p.pid] = k.hw.instructions
    k.attach(Watch())
    k.run()
    lowest = min((1, 2, 3), key=lambda pid: pol.prio[pid])
    first_end = min(ran.values())
    # the lowest ran nothing before the first exit: it ends last, and
    # runs all of its 2 * 20000 loop instructions after that exit
    assert ran[lowest] == max(ran.values())
    assert ran[lowest] - first_end >= 2 * 20000


def _spinner_path():
    import tempfile
    d = tempfile.mkdtemp()
    path = f"{d}/spin3.s"
    with open(path, "w") as f:
        f.write("    mov ecx, 20000\nloop: dec ecx\n    jnz loop\n"
                "    mov ebx, 0\n    mov eax, SYS_EXIT\n    int 0x80\n")
    return path


def test_fifo_policy_is_todays_seeded_slicing():
    import random
    pol, rng = FifoPolicy(quantum=0, seed=9), random.Random(9)
    assert [pol.slice_length(None, 0) for _ in range(50)] == \
        [rng.randint(1, 2000) for _ in range(50)]
    assert FifoPolicy(quantum=300).slice_length(None, 0) == 300
