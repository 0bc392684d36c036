"""Thread and TLB-shootdown figures for `make bench` (tools/bench/main.py
divides them by what it measures next to them):

- thread_create + thread_join against fork + wait: a guest loop of ROUNDS
  of each, one run per figure, the loop's kernel time per round;
- one TLB shootdown round (one other CPU running the address space, one
  page) against the bare hook round trip: Shootdown's round timed from the
  host, ROUNDS times;
- a PAGES-page mprotect with a sibling thread on another CPU: how many
  shootdowns it sends (one);
- compute on 2 CPUs: 2 threads of one process against 2 processes, the
  same loop (guest instructions per second).
Best of REPEAT runs each."""

import io
import time

from kernel.kernel import Console, Kernel
from tools.bench.common import EXIT, LOOP, LOOP_INSNS, kernel_seconds
from tools.cmdline import no_options

ROUNDS = 300
REPEAT = 3
PAGES = 1000

THREAD_LOOP = """
    mov ebp, {n}
again:
    mov eax, SYS_THREAD_CREATE
    lea ebx, [child]
    mov ecx, 0xBFFF8000
    xor edx, edx
    int 0x80
    mov ebx, eax
    mov eax, SYS_THREAD_JOIN
    xor ecx, ecx
    int 0x80
    dec ebp
    jnz again
""" + EXIT + """
child:
    mov eax, SYS_THREAD_EXIT
    xor ebx, ebx
    int 0x80
"""
FORK_LOOP = """
    mov ebp, {n}
again:
    mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz child
    mov ebx, eax
    mov eax, SYS_WAIT
    xor ecx, ecx
    int 0x80
    dec ebp
    jnz again
""" + EXIT + """
child:
""" + EXIT
# A sibling spins on CPU 1 while main mprotects PAGES pages read-only.
MPROTECT = """
    lea edi, [mem]
    mov esi, {pages}
touch:
    mov dword ptr [edi], esi
    add edi, 4096
    dec esi
    jnz touch
    mov eax, SYS_THREAD_CREATE
    lea ebx, [spin]
    mov ecx, 0xBFFF8000
    int 0x80
    mov esi, 20000
wait:
    dec esi
    jnz wait
    mov eax, SYS_MPROTECT
    lea ebx, [mem]
    mov ecx, {pages} * 4096
    mov edx, 1
    int 0x80
""" + EXIT + """
spin:
    jmp spin
.align 4096
mem: .zero {pages} * 4096
"""


# main starts a second thread on the loop, runs it too, and joins it.
TWO_THREADS = """
    mov eax, SYS_THREAD_CREATE
    lea ebx, [second]
    mov ecx, 0xBFFF8000
    int 0x80
    push eax
    call work
    pop ebx
    mov eax, SYS_THREAD_JOIN
    xor ecx, ecx
    int 0x80
""" + EXIT + """
second:
    call work
    mov eax, SYS_THREAD_EXIT
    xor ebx, ebx
    int 0x80
work:
""" + LOOP + """
    ret
"""
LOOP_ITERS = 5_000_000


def best(fn):
    return min(fn() for _ in range(REPEAT))


def round_trip_us(src, n=ROUNDS):
    """Kernel seconds per round of the loop src (in microseconds)."""
    return best(lambda: kernel_seconds({"b": src.format(n=n)}, ["b"])) \
        / n * 1e6


def shootdown_round_us(n=ROUNDS):
    """One shootdown round (Shootdown._round: flush one other CPU, count
    it) in a booted two-CPU kernel whose CPU 1 runs the address space."""
    from tools.toolchain.programs import Images
    k = Kernel(Images.assembled({"b": EXIT}), cpus=2,
               console=Console(io.BytesIO(), io.BytesIO()))
    p, = k.boot(["b"])
    pc = k.sched.percpu[1]
    pc.loaded = p.threads[p.pid]
    sd = k.sched.shootdown
    old = [(0x400000, p.aspace.frame_of(0x400000))]

    def once():
        t = time.perf_counter()
        for _ in range(n):
            sd._round([pc], p.aspace, "bench", old)
        return time.perf_counter() - t
    dt = best(once)
    pc.loaded = None
    return dt / n * 1e6


def mprotect_shootdowns(pages=PAGES):
    """Shootdowns one pages-page mprotect sends with a sibling on CPU 1."""
    from tools.toolchain.programs import Images
    k = Kernel(Images.assembled({"m": MPROTECT.format(pages=pages)}),
               cpus=2, quantum=5000,
               console=Console(io.BytesIO(), io.BytesIO()))
    rounds = []

    class Count:
        def on_shootdown(self, cpu, targets, pid, why):
            rounds.append(why)
    k.attach(Count())
    k.boot(["m"])
    k.run()
    return rounds.count("mprotect")


def compute_rates(iters=LOOP_ITERS):
    """Guest instructions per second on 2 CPUs: (2 threads of one process,
    2 processes), each running the loop iters times."""
    insns = 2 * iters * LOOP_INSNS
    threads = insns / best(lambda: kernel_seconds(
        {"t": TWO_THREADS.format(n=iters)}, ["t"], cpus=2))
    procs = insns / best(lambda: kernel_seconds(
        {"p": LOOP.format(n=iters) + EXIT}, ["p", "p"], cpus=2))
    return threads, procs


def bench_threads(rounds=ROUNDS, pages=PAGES, iters=LOOP_ITERS):
    """The figures, as a dict (microseconds, counts)."""
    thread_us = round_trip_us(THREAD_LOOP, rounds)
    fork_us = round_trip_us(FORK_LOOP, rounds)
    threads_ips, procs_ips = compute_rates(iters)
    return {"thread_create_join_us": thread_us, "fork_wait_us": fork_us,
            "two_threads_mips": threads_ips / 1e6,
            "two_processes_mips": procs_ips / 1e6,
            "threads_vs_processes": threads_ips / procs_ips,
            "thread_vs_fork": thread_us / fork_us,
            "shootdown_round_us": shootdown_round_us(rounds),
            "mprotect_pages": pages,
            "mprotect_shootdowns": mprotect_shootdowns(pages)}


def main(argv=None):
    no_options("tools.bench.threads", __doc__, argv)
    for name, value in bench_threads(rounds=50, pages=100,
                                     iters=200_000).items():
        print(f"{name:28} {value:10.2f}")


if __name__ == "__main__":
    main()
