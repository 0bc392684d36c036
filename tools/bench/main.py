"""`make bench`: the kernel's costs as ratios to bare Unicorn doing the same
work, measured in one run (the machines are shared and noisy: compare
ratios, not absolute times). Each figure is the best of a few repetitions."""

import io
import sys
import time

from emu import bare
from kernel.kernel import Console, Kernel
from tools.toolchain.asm import assemble_source
from tools.toolchain.programs import Images
from tools.cmdline import no_options
from tools.bench.common import EXIT, GETPID, LOOP, LOOP_INSNS, YIELD, \
    kernel_seconds

LOOP_ITERS = 20_000_000
CALLS = 100_000
REPEAT = 3




def best(fn):
    return min(fn() for _ in range(REPEAT))


def bare_hook_seconds():
    """The yardstick: a bare UC_HOOK_INTR round trip, measured now (each
    section measures its own, next to the figures it divides)."""
    code, end = bare_body(GETPID.format(n=CALLS))
    return best(lambda: bare.hook_round_trip_seconds(code, end)) / CALLS


def bare_body(src):
    """Assemble a benchmark body for bare Unicorn: returns (code, end)."""
    code = assemble_source(src)
    return code, len(code)


def bench_compute():
    body = LOOP.format(n=LOOP_ITERS)
    code, end = bare_body(body)
    insns = LOOP_ITERS * LOOP_INSNS
    bare_ips = insns / best(lambda: bare.run_seconds(code, end))
    one = insns / best(lambda: kernel_seconds({"loop": body + EXIT}, ["loop"]))
    two = 2 * insns / best(lambda: kernel_seconds(
        {"loop": body + EXIT}, ["loop", "loop"]))
    q = 2 * insns / best(lambda: kernel_seconds(
        {"loop": body + EXIT}, ["loop", "loop"], quantum=100_000))
    return [("bare Unicorn compute (M instr/s)", bare_ips / 1e6, None, None),
            ("kernel, 1 process (M instr/s)", one / 1e6, one / bare_ips, ">= 0.8"),
            ("kernel, 2 processes default (M instr/s)", two / 1e6,
             two / bare_ips, ">= 0.6"),
            ("kernel, 2 processes --quantum 100000 (M instr/s)", q / 1e6,
             q / bare_ips, "reported")]


def bench_syscalls():
    body = GETPID.format(n=CALLS)
    hook = bare_hook_seconds()
    getpid = best(lambda: kernel_seconds({"g": body + EXIT}, ["g"])) / CALLS
    ybody = YIELD.format(n=CALLS // 2) + EXIT
    # Two processes yielding to each other: each yield is one switch.
    yld = best(lambda: kernel_seconds({"y": ybody}, ["y", "y"])) / CALLS
    return [("bare hook round trip (us)", hook * 1e6, None, None),
            ("getpid round trip (us)", getpid * 1e6, getpid / hook, "<= 1.5"),
            ("yield with a context switch (us)", yld * 1e6, yld / hook, "<= 4")]


def bench_boot():
    t = best(lambda: _boot_seconds())
    return [("boot to first user instruction, 128 MiB (ms)", t * 1e3, None,
             "<= 200 ms")]


def _boot_seconds():
    t = time.perf_counter()
    k = Kernel(Images.assembled({"x": EXIT}),
               console=Console(io.BytesIO(), io.BytesIO()))
    k.boot(["x"])
    return time.perf_counter() - t


def bench_cpus():
    """Total guest instruction rate with 1, 2 and 4 CPUs (4 CPU-bound
    processes), as a ratio to 1 CPU in the same mode."""
    body = LOOP.format(n=LOOP_ITERS // 4) + EXIT
    insns = 4 * (LOOP_ITERS // 4) * LOOP_INSNS
    rows = []
    for mode, kw in (("default", {}), ("--seed 1", {"seed": 1,
                                                     "quantum": 100_000})):
        rates = {c: insns / best(lambda: kernel_seconds(
            {"loop": body}, ["loop"] * 4, cpus=c, **kw)) for c in (1, 2, 4)}
        for c, rate in rates.items():
            rows.append((f"{c} CPU(s), {mode} (M instr/s)", rate / 1e6,
                         rate / rates[1], ">= 0.8" if c == 2 else "reported"))
    return rows


def bench_shared_memory():
    """The figures (tools/bench/shm.py), the fault as a ratio to the
    bare hook round trip measured here."""
    from tools.bench.shm import bench_shm
    f = bench_shm()
    hook = bare_hook_seconds()
    return [("attach of a touched 64 MiB segment (ms)",
             f["attach_64mib_touched_ms"], None, "<= 20 ms"),
            ("demand-zero fault round trip (us)", f["demand_zero_fault_us"],
             f["demand_zero_fault_us"] / (hook * 1e6), "<= 3"),
            ("  same, on RAM the host never touched (us)",
             f["demand_zero_fault_cold_us"],
             f["demand_zero_fault_cold_us"] / (hook * 1e6), "reported"),
            ("two processes touching 64 MiB (pages/s)",
             f["two_process_touch_pages_per_s"], None, "reported")]


def bench_tracing():
    """Tracing off must cost nothing measurable; on, it may be slower."""
    from tools.cli.trace_opts import bench_trace
    f = bench_trace()
    return [("page-fault-heavy run, tracing off (ms)", f["trace_off_s"] * 1e3,
             None, None),
            ("same, tracing on (ms)", f["trace_on_s"] * 1e3,
             f["trace_on_s"] / f["trace_off_s"], "reported")]


def bench_messages():
    """The figures (tools/bench/ipc.py): message ping-pong and futex
    wake-to-run against the bare hook round trip, and 16 MiB moved by
    messages against a shared-memory ring."""
    from tools.bench.ipc import bench_ipc
    f = bench_ipc(mib=16, repeat=3)
    hook = bare_hook_seconds() * 1e6
    rows = [("message round trip, send+recv each way (us)",
             f["message_round_trip_us"], f["message_round_trip_us"] / hook,
             "<= 9"),
            ("futex wake to run (us)", f["futex_wake_to_run_us"],
             f["futex_wake_to_run_us"] / hook, "reported")]
    for name, t in f["transfers"].items():
        rows.append((f"16 MiB by {name} (ms)", t["seconds"] * 1e3,
                     f["speedup_vs_messages"][name],
                     ">= 20 (shm vs messages)" if "zero" in name else
                     "reported"))
    return rows


def bench_debugger():
    """The figures (tools/bench/gdb.py): compute with gdb's stub
    connected, a breakpoint hit, writes near a watchpoint."""
    from tools.bench.gdb import bench_gdb
    f = bench_gdb()
    hook = bare_hook_seconds() * 1e6
    plain = f["write_unwatched_ns"]
    return [("compute with --gdb connected, no breakpoints (ratio)",
             f["compute_attached_ratio"], f["compute_attached_ratio"],
             ">= 0.8"),
            ("breakpoint hit: stop and continue, gdb aside (us)",
             f["breakpoint_hit_us"], f["breakpoint_hit_us"] / hook,
             "reported"),
            ("write loop, no watchpoint (ns per write)", plain, None, None),
            ("  same, watchpoint on another page (ns)",
             f["write_other_page_watched_ns"],
             f["write_other_page_watched_ns"] / plain, "reported"),
            ("  same, watchpoint on the written page (ns)",
             f["write_watched_page_ns"], f["write_watched_page_ns"] / plain,
             "reported")]


def bench_reverse():
    """The figures (tools/bench/reverse.py): going back in time at the end
    of a 10^7-instruction --seed run, and the cost of being ready to."""
    from tools.bench.reverse import bench_reverse as figures
    f = figures()
    return [("reverse-stepi after 10^7 instructions (s)",
             f["reverse_stepi_s"], None, "reported (replays from boot)"),
            ("reverse-continue to a watchpoint 10^7 back (s)",
             f["reverse_continue_s"], None, "<= 2"),
            ("--gdb --seed run, ready to go back vs not (ratio)",
             f["ready_vs_not_ratio"], f["ready_vs_not_ratio"], ">= 0.8")
            ] + bench_checkpoints()


def bench_checkpoints():
    """Under the real gdb: a 10^8-instruction --seed run whose watched
    word was last written 10^7 instructions before its end, with a
    checkpoint every 10^6 instructions (16 kept) and without."""
    from tools.bench.reverse import gdb_journeys
    on = gdb_journeys(10 ** 8, 10 ** 7, 10 ** 6)
    off = gdb_journeys(10 ** 8, 10 ** 7, 0, journeys=False)
    ratio = off["forward"] / on["forward"]
    return [("reverse-stepi after 10^8, checkpoints (s)",
             on["reverse_stepi"], None, "<= 0.5"),
            ("reverse-continue to a write 10^7 back, checkpoints (s)",
             on["reverse_continue"], None, "<= 2"),
            ("--gdb --seed run, checkpoints on vs off (ratio)", ratio,
             ratio, ">= 0.8"),
            ("host memory of the checkpoints, 10^8 run (MiB)",
             on["checkpoint_mib"], None, "reported")]


def bench_fork():
    """The figures (tools/bench/fork.py): fork of 1 MiB of touched
    private memory, copy-on-write faults against the bare hook round trip,
    and fork + exit + wait."""
    from tools.bench.fork import bench_fork as figures
    f = figures()
    hook = bare_hook_seconds() * 1e6
    return [("fork, 1 MiB touched private memory (us)", f["fork_1mib_us"],
             None, "reported"),
            (f"  per page-table page copied ({f['page_tables_copied']}) (us)",
             f["fork_us_per_page_table"], None, "<= 30 us"),
            ("  of which copying the tables, per page-table page (us)",
             f["table_copy_us_per_page_table"], None, "reported"),
            ("COW write fault round trip, copy (us)", f["cow_copy_fault_us"],
             f["cow_copy_fault_us"] / hook, "<= 3"),
            ("COW write fault round trip, reuse (us)",
             f["cow_reuse_fault_us"], f["cow_reuse_fault_us"] / hook, "<= 2"),
            ("fork + exit + wait round trip (us)", f["fork_exit_wait_us"],
             f["fork_exit_wait_us"] / hook, "reported")]


def bench_threads():
    """The figures (tools/bench/threads.py): thread_create + thread_join
    against fork + wait, a TLB shootdown round against the bare hook round
    trip, and the shootdowns of one 1,000-page mprotect."""
    from tools.bench.threads import bench_threads as figures
    f = figures()
    hook = bare_hook_seconds() * 1e6
    return [("thread_create + thread_join round trip (us)",
             f["thread_create_join_us"], f["thread_vs_fork"],
             "<= 0.3 (vs fork + wait)"),
            ("  fork + wait round trip, same loop (us)", f["fork_wait_us"],
             None, None),
            ("TLB shootdown round, 1 page, 1 other CPU (us)",
             f["shootdown_round_us"], f["shootdown_round_us"] / hook,
             "<= 3"),
            (f"shootdowns of one {f['mprotect_pages']}-page mprotect, "
             "sibling on CPU 1", f["mprotect_shootdowns"], None, "1"),
            ("2 threads of 1 process on 2 CPUs (M instr/s)",
             f["two_threads_mips"], f["threads_vs_processes"],
             ">= 0.9 (vs 2 processes)"),
            ("  2 processes on 2 CPUs, same loop (M instr/s)",
             f["two_processes_mips"], None, None)]


def bench_race_detector():
    """The figures (tools/bench/races.py): --races against the same
    run without it."""
    from tools.bench.races import bench_races
    f = bench_races()
    return [("--races, 2 processes, no shared memory (ms)",
             f["private_on_s"] * 1e3, f["private_speed_ratio"],
             ">= 0.9 (speed vs without)"),
            ("--races, race.c plain (ms)", f["race_plain_on_s"] * 1e3,
             f["race_plain_slowdown"], "<= 20 (slowdown)"),
            ("--races, race.c all four modes (ms)", f["race_all_on_s"] * 1e3,
             f["race_all_slowdown"], "reported (slowdown)")]


LONG_WRITE = """
    mov eax, SYS_SHM_CREATE
    xor ebx, ebx
    mov ecx, 0x4000000
    mov edx, 0x180
    int 0x80
    mov esi, eax
    mov edi, 8
attach:
    mov eax, SYS_SHM_ATTACH
    mov ebx, esi
    xor ecx, ecx
    xor edx, edx
    int 0x80
    dec edi
    jnz attach
    mov eax, SYS_WRITE             # 512 MiB from 8 attachments of 64 MiB
    mov ebx, 1
    mov ecx, 0x40000000
    mov edx, 0x20000000
    int 0x80
    mov edi, eax
    sub edi, 0x20000000            # exit 0 when it returned the length
    mov eax, SYS_SHM_DESTROY
    mov ebx, esi
    int 0x80
    mov ebx, edi
    mov eax, SYS_EXIT
    int 0x80
"""


class _NullSink:
    def write(self, data):
        pass

    def flush(self):
        pass


def bench_long_write():
    """one write of 512 MiB, checked then streamed page by page in
    turns of sys_proc.WRITE_SLICE pages (other processes run between):
    the cost per page walked and the longest a turn keeps the CPU."""
    from kernel.proc.sysproc import WRITE_SLICE
    images = Images.assembled({"w": LONG_WRITE})

    def once():
        k = Kernel(images, console=Console(_NullSink(), _NullSink()))
        k.boot(["w"])
        t = time.perf_counter()
        k.run()
        assert all(p.status == 0 for p in k.procs), "bench program failed"
        return time.perf_counter() - t
    t = best(once)
    per_page = t / (2 * (0x20000000 >> 12))         # checked, then copied
    return [("write of 512 MiB from 8 attachments (s)", t, None, "reported"),
            ("  per page walked (us)", per_page * 1e6, None, "reported"),
            ("  one turn of the write (ms)", per_page * WRITE_SLICE * 1e3,
             None, "reported")]


def bench_paging():
    """(tools/bench/pae.py): PAE against 32-bit paging, large
    pages against 4 KiB pages."""
    from tools.bench.pae import large_pages, mode_costs
    return mode_costs() + large_pages()


def bench_race_finder():
    """The race finder's figures (tools/bench/race.py): --jobs 2
    against --jobs 1, and PCT against random slicing."""
    from tools.bench.race import bench_race
    return bench_race()


def bench_checker():
    """The figures (tools/bench/check.py): --check (incremental) and
    --check=full against the unchecked run; fuzz programs per second."""
    from tools.bench.check import bench_check
    f = bench_check()
    off, demos = f["touch_off_s"], f["demos_off_s"]
    return [("64 MiB touch program, unchecked (s)", off, None, None),
            ("  same, --check (s)", f["touch_incremental_s"],
             f["touch_incremental_s"] / off, "<= 3 (slowdown)"),
            ("make run's demos, unchecked (s)", demos, None, None),
            ("  same, --check (s)", f["demos_incremental_s"],
             f["demos_incremental_s"] / demos, "reported (slowdown)"),
            ("  same, --check=full (s)", f["demos_full_s"],
             f["demos_full_s"] / demos, "reported (slowdown)"),
            ("fuzz, --check-every 1 (programs/s)",
             f["fuzz_incremental_every_1"], f["fuzz_incremental_every_1"]
             / f["fuzz_full_every_8"], "reported (vs full every 8th)"),
            ("  same, full recount every 8th (programs/s)",
             f["fuzz_full_every_8"], None, None)]


SECTIONS = [bench_boot, bench_syscalls, bench_compute, bench_cpus,
            bench_shared_memory, bench_tracing, bench_messages,
            bench_long_write, bench_race_detector, bench_race_finder,
            bench_debugger, bench_reverse, bench_fork, bench_threads,
            bench_paging,
            bench_checker]


def main(argv=None):
    no_options("tools.bench", __doc__, argv)
    print(f"{'figure':52} {'value':>10} {'ratio':>8}  target")
    for section in SECTIONS:
        for name, value, ratio, target in section():
            r = f"{ratio:8.2f}" if ratio is not None else " " * 8
            print(f"{name:52} {value:10.2f} {r}  {target or ''}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
