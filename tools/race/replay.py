"""From a race to its cause: for each racing pair of a deterministic run,
the moment its second access happens, so that gdb can be started there
(`ia32k run ... --gdb 0 --stop-at T:PID`) and go back to the first with
a watchpoint and reverse-continue.

One silent replay of the run (a fresh machine of the same programs and
options) hooks the racing bytes and notes every guest access to them with
its instruction count; a pair's second access is the first access by its
second instruction after one by its first."""

from dataclasses import dataclass
from types import SimpleNamespace


class SecondAccess:
    """The moments of the second accesses of `races` (Race objects of
    tools.race.detector), found by replaying machine() (a booted, silent
    kernel of the same run) once, when first asked."""

    def __init__(self, machine, races):
        self.machine, self.races = machine, races
        self.found = None            # pair_key -> (count, pid)

    def moment(self, race):
        """(T, pid): pid is about to run the second access of race after
        T instructions; None when the replay did not see it."""
        if self.found is None:
            self.found = self._replay()
        return self.found.get(pair_key(race))

    def _replay(self):
        k = self.machine()
        seen = []                    # (count, pid, eip, byte)
        bytes_ = {r.byte for r in self.races}
        for cpu in k.hw.cpus:
            for b in bytes_:     # an access of up to 4 bytes covering b
                cpu.add_mem_hook(
                    lambda w, pa, size, cpu=cpu, b=b: pa <= b < pa + size
                    and seen.append((k.hw.instructions, k.current.pid,
                                     cpu.reg("eip"), b)),
                    max(0, b - 3), b, True, True)
        k.run()
        return {pair_key(r): m for r in self.races
                if (m := second(seen, r)) is not None}


def pair_key(race):
    return (race.a.pid, race.a.eip, race.b.pid, race.b.eip, race.byte)


@dataclass
class Pair:
    """A racing pair as a report lists it (its `races` entries): each side
    has pid, eip and va; byte is the physical byte both touched."""
    a: SimpleNamespace
    b: SimpleNamespace
    byte: int

    @classmethod
    def listed(cls, entry):
        return cls(SimpleNamespace(**entry["a"]),
                   SimpleNamespace(**entry["b"]), entry["pa"])


def gdb_lines(command, moment, va, size=4):
    """What a race report says to go from its second access back to its
    first under gdb: command (an `ia32k run` line repeating the run) with
    --stop-at moment (T, pid), and the watchpoint to set there."""
    kind = {1: "char", 2: "short"}.get(size, "int")
    return [f"replay: {command} --gdb 0 --stop-at {moment[0]}:{moment[1]}",
            f"  (stops pid {moment[1]} before its access; in gdb, "
            f"`awatch *({kind}*){va:#x}` then `reverse-continue` goes back "
            "to the access before it)"]


def second(seen, race):
    """(count before it, pid) of race's second access in seen, or None."""
    a, b = race.a, race.b
    first = False
    for count, pid, eip, byte in seen:
        if byte != race.byte:
            continue
        if (pid, eip) == (a.pid, a.eip):
            first = True
        elif first and (pid, eip) == (b.pid, b.eip):
            return count - 1, pid
    return None
