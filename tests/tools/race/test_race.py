"""The race demo: two processes on two CPUs add to one shared counter.
Without a lock some interleavings lose updates; with `lock xadd`, the
spinlock or the futex mutex the total is exact for every seed tried; and a
seed always replays the same interleaving."""

import io
import re

import pytest

from kernel.kernel import Console
from tools.observe.boot import new_kernel
from tools.toolchain.programs import Programs

MODES = {"plain": 1, "xadd": 2, "spinlock": 3, "mutex": 4}
K = 5000
SEEDS = range(50)


def race(mode, seed, cpus=2, check=True):
    """Run the demo's parent for one mode; return (total, stdout, kernel)."""
    out = io.BytesIO()
    k = new_kernel(Programs(), cpus=cpus, seed=seed, check=check,
                   console=Console(out, io.BytesIO()))
    parent = k.create_process("race", arg=MODES[mode])
    k.run()
    text = out.getvalue().decode()
    m = re.search(r"total (\d+) of (\d+)", text)
    assert m and int(m.group(2)) == 2 * K, text
    assert parent.status == 0, text
    assert k.stats.frames_free_at_end == k.stats.frames_free_at_boot
    return int(m.group(1)), text, k


@pytest.fixture(scope="module")
def plain_totals():
    return {seed: race("plain", seed)[0] for seed in SEEDS}


def test_without_a_lock_some_seeds_lose_updates(plain_totals):
    short = [s for s, total in plain_totals.items() if total < 2 * K]
    assert short, "no seed lost an update"
    assert all(t <= 2 * K for t in plain_totals.values())


@pytest.mark.parametrize("mode", ["xadd", "spinlock", "mutex"])
def test_with_atomics_or_locks_every_seed_is_exact(mode):
    for seed in SEEDS:
        total, text, _ = race(mode, seed)
        assert total == 2 * K, f"seed {seed}: {text}"


def test_a_seed_replays_its_interleaving_exactly(plain_totals):
    seed = next(s for s, t in plain_totals.items() if t < 2 * K)
    again, text, k = race("plain", seed)
    assert again == plain_totals[seed]
    assert "updates lost" in text


def test_both_cpus_ran_the_children():
    _, _, k = race("plain", 3)
    per_cpu = [pc.report() for pc in k.sched.percpu]
    assert all(c["instructions"] > 1000 for c in per_cpu)
