"""PCT, the probabilistic concurrency testing schedule (Burckhardt, Kothari,
Musuvathi, Nagarakatte: "A randomized scheduler with probabilistic
guarantees of finding bugs", ASPLOS 2010), as a scheduler policy.

The unit is a thread (a process's first thread stands for the process).
Every thread gets a random priority when the scheduler first sees it,
distinct from all others; the highest-priority runnable thread runs (on
`--cpus N`, the N highest). d-1 *change points* are drawn uniformly from
the steps 1..K; when the run reaches change point i, the process that
executed that step drops to priority d-i, below every initial priority.
A bug of depth d (d ordering constraints) among n processes in a run of K
steps is then hit with probability at least 1/(n*K^(d-1)) (the paper's
bound, for its model of threads that never spin).

A step is one guest instruction, counted exactly by emu/icount.c and
summed over every CPU (the CPUs take turns, so the run is one sequence of
instructions). On one CPU a slice is --quantum instructions (default
1000): at each slice end the scheduler looks again for a higher-priority
process (one that a futex_wake or a spawn made runnable). On N CPUs the N
running processes run in parallel, and how their instructions interleave
is drawn as `--schedule random` draws it: slices uniform in 1..2*quantum.
A slice is cut short exactly at a change point. Everything is drawn from
one PRNG seeded by the seed, so a seed replays its schedule.

Two rules keep busy-waiting from running forever, which strict priorities
would otherwise allow: a process that yields drops below every other
process, and so does one that has run K instructions in a row (the whole
run's expected length) while others waited: it is taken to be spinning.
"""

import random

DEFAULT_QUANTUM = 1000
DEFAULT_STEPS = 100_000


class PctPolicy:
    """The PCT schedule for one run, drawn from seed."""

    counting = True                 # every instruction counted
    by_steps = True                 # told the global step of every slice

    def __init__(self, seed, depth=2, steps=DEFAULT_STEPS, quantum=0,
                 cpus=1):
        if depth < 1 or steps < 1:
            raise ValueError("PCT needs depth >= 1 and steps >= 1")
        self.rng = random.Random(seed)
        self.depth = depth
        self.quantum = quantum or DEFAULT_QUANTUM
        self.cpus = cpus
        self.fairness = steps        # instructions in a row: spinning
        nchanges = min(depth - 1, steps)
        self.changes = sorted(self.rng.sample(range(1, steps + 1), nchanges))
        self.done = 0               # change points passed
        self.prio = {}              # tid -> (band, value): higher runs first
        self.streak = {}            # tid -> instructions run in a row
        self.log = []               # (step, tid, why) for every demotion

    def priority(self, p):
        """p's priority; a process seen for the first time gets a random
        one in the initial band (distinct with probability 1)."""
        pr = self.prio.get(p.tid)
        if pr is None:
            pr = self.prio[p.tid] = (1, self.rng.random())
        return pr

    def pick(self, runq):
        """The highest-priority runnable process, removed from runq."""
        best = max(runq, key=self.priority)
        runq.remove(best)
        self.streak[best.tid] = 0
        return best

    def slice_length(self, p, now):
        """A quantum (on several CPUs, a random length around it), cut
        short at the next change point."""
        self.priority(p)
        n = self.quantum if self.cpus == 1 else \
            self.rng.randint(1, 2 * self.quantum)
        if self.done < len(self.changes):
            return max(1, min(n, self.changes[self.done] - now))
        return n

    def ran(self, p, start, end, yielded):
        """Apply the change points p's slice reached, and the yield
        demotion."""
        while self.done < len(self.changes) and end >= self.changes[self.done]:
            self.done += 1
            self.prio[p.tid] = (0, self.depth - self.done)
            self.log.append((end, p.tid, f"change point {self.done}"))
        self.streak[p.tid] = self.streak.get(p.tid, 0) + (end - start)
        if yielded:
            self._to_bottom(p, end, "yield")

    def preempts(self, p, runq):
        """After a full slice: p gives its CPU up only to a higher-priority
        process, or after `fairness` instructions in a row while others
        waited (then it first drops to the bottom of its band)."""
        if not runq:
            self.streak[p.tid] = 0
            return False
        if self.streak[p.tid] >= self.fairness:
            self._to_bottom(p, None, "fairness")
            self.streak[p.tid] = 0
        mine = self.priority(p)
        return any(self.priority(q) > mine for q in runq)

    def _to_bottom(self, p, now, why):
        """Move p below every other process, in the lowest band: whoever
        else is runnable then runs first (a yield loop cannot spin)."""
        others = [pr for tid, pr in self.prio.items() if tid != p.tid]
        if others and self.priority(p) >= min(others):
            band, value = min(others)
            self.prio[p.tid] = (band, value - 1)
            self.log.append((now, p.tid, why))

    def describe(self):
        """One line: the change points and every demotion so far."""
        return (f"pct depth {self.depth}: change points at steps "
                f"{self.changes}; demotions {self.log[:8]}")
