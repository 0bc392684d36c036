"""--races holds its own host memory under 64 MiB whatever the guest
shares: each guest runs in a fresh interpreter with and without the
detector, and the peak RSS of the two runs differs by less than that."""

import io
import resource
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LIMIT = 64 << 20

# One process clears its own shared segment over and over, never
# preempted (a lone process), or two processes each write all of one
# segment once, unordered.
CLEAR = """
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x5152
    mov ecx, {size}
    mov edx, 0x1b6
    int 0x80
    cmp eax, 0
    jg made
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x5152
    int 0x80
made:
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov edx, eax
    mov esi, {passes}
again:
    mov edi, edx
    mov ecx, {size} >> 2
    mov eax, esi
    rep stosd
    dec esi
    jnz again
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
"""

# 8 passes make 8M accesses (an unbounded 12-byte log would pass 64 MiB);
# 2 x 24 MiB of dwords is more than the packed shadow holds in its budget.
GUESTS = {
    "lone 4 MiB x8": (4 << 20, 8, 1),
    "two 24 MiB x1": (24 << 20, 1, 2),
}


def run(guest, races):
    """(accesses the detector saw, frames whose shadow it dropped, peak
    RSS in bytes) of a fresh interpreter that runs guest."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.tools.race.test_racememory", guest,
         "1" if races else "0"], cwd=ROOT, capture_output=True, text=True,
        timeout=1800)
    assert out.returncode == 0, out.stderr
    return tuple(int(n) for n in out.stdout.split())


@pytest.mark.parametrize("guest", sorted(GUESTS))
def test_races_host_memory_stays_bounded(guest):
    size, passes, procs = GUESTS[guest]
    seen, evicted, on = run(guest, True)
    _, _, off = run(guest, False)
    assert seen == procs * passes * size // 4        # all of it watched
    assert on - off < LIMIT, f"--races grew the peak RSS by {on - off} bytes"
    assert evicted or size * procs <= 16 << 20      # big guests: dropped


def main(guest, races):
    """Run guest (races: with --races); print the accesses the detector
    saw, the frames whose shadow it dropped and the peak RSS in bytes."""
    from kernel.kernel import Console
    from tools.observe.boot import new_kernel
    from tools.observe.report import build_report
    from tools.race.watch import RaceWatch
    from tools.toolchain.programs import Images
    size, passes, procs = GUESTS[guest]
    images = Images.assembled({"clear": CLEAR.format(size=size,
                                                     passes=passes)})
    err = io.BytesIO()
    k = new_kernel(images, races=races, console=Console(io.BytesIO(), err))
    k.boot(["clear"] * procs)
    k.run()
    assert all(p.status == 0 for p in k.procs), "the guest failed"
    seen = k.observer(RaceWatch).det.accesses if races else 0
    dropped = build_report(k)["races_dropped_frames"] if races else 0
    assert (b"frames was dropped" in err.getvalue()) == bool(dropped)
    print(seen, dropped,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1")
