"""The command-line side of page-walk traces: the --trace, --trace-format,
--walk and --dump-pt options of `ia32k run` and `ia32k trace`, and the
figures `make bench` reports for tracing."""

import argparse
import io
import sys
import time
from pathlib import Path

from tools.observe.trace import Tracer, parse_walk_request
from tools.toolchain.programs import Programs

JSONL_SUFFIXES = (".jsonl", ".json")


def add_options(ap):
    """Add the trace options to an argparse parser."""
    ap.add_argument("--trace", metavar="FILE",
                    help="write a page-walk trace to FILE ('-': stdout); "
                         "JSON lines for .jsonl, else text")
    ap.add_argument("--trace-format", choices=("text", "jsonl"),
                    help="override the format the file name implies")
    ap.add_argument("--walk", action="append", default=[], type=_walk_arg,
                    metavar="PID:VA[:ACCESS]",
                    help="at PID's exit, trace the walk of VA (repeatable)")
    ap.add_argument("--dump-pt", action="store_true",
                    help="at each exit, dump the page table and frame map")


def _walk_arg(text):
    try:
        return parse_walk_request(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def attach(k, args, sinks=()):
    """Attach a Tracer to kernel k as args ask; None when nothing is asked.
    Without --trace, walks and dumps go to stderr as text; sinks (e.g. the
    --html page) receive every record."""
    if not (args.trace or args.walk or args.dump_pt or sinks):
        return None
    if args.trace in (None, "-"):
        out = sys.stdout.buffer if args.trace == "-" else sys.stderr.buffer
        name = ""
    else:
        out, name = open(args.trace, "wb"), args.trace
    fmt = args.trace_format or ("jsonl" if Path(name).suffix in
                                JSONL_SUFFIXES else "text")
    return Tracer(out, fmt, args.walk, args.dump_pt,
                  trace=bool(args.trace), sinks=sinks).attach(k)


def finish(tracer):
    """Flush or close the trace; warn about --walk requests never met."""
    if tracer is None:
        return
    for r in tracer.unmatched():
        print(f"ia32k: --walk {r.pid}:{r.va:#x}: pid {r.pid} never exited",
              file=sys.stderr)
    if tracer.out in (sys.stdout.buffer, sys.stderr.buffer):
        tracer.out.flush()
    else:
        tracer.out.close()


BENCH_DEPTH = 40
BENCH_SOURCE = f"""
    mov esi, eax                    # how deep in the chain this process is
    mov ecx, 16
    mov edi, 0xBFFFFFFC
touch:                              # one demand-zero fault per stack page
    mov dword ptr [edi], ecx
    sub edi, 0x1000
    dec ecx
    jnz touch
    cmp esi, {BENCH_DEPTH}
    jae done
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, 10
    lea edx, [esi + 1]
    int 0x80
    mov ebx, eax
    mov eax, SYS_WAIT
    xor ecx, ecx
    int 0x80
done:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
name: .ascii "tracebench"
"""


def bench_trace(runs=3):
    """A chain of processes, each faulting in its 16 stack pages and
    spawning the next: seconds per run untraced and traced (text, to
    memory), best of runs, with the faults and trace records of one run."""
    from kernel.kernel import Console, Kernel
    from kernel.proc.loader import image_from_bytes
    from tools.toolchain.asm import assemble_source
    progs = Programs()
    progs.images["tracebench"] = image_from_bytes(
        "tracebench", assemble_source(BENCH_SOURCE))
    best, figures = {"off": float("inf"), "on": float("inf")}, {}
    for _ in range(runs):
        for mode in best:
            k = Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()))
            tr = Tracer(io.BytesIO()).attach(k) if mode == "on" else None
            t = time.perf_counter()
            k.boot(["tracebench"])
            k.run()
            best[mode] = min(best[mode], time.perf_counter() - t)
            figures["page_faults"] = k.stats.page_faults
            if tr:
                figures["trace_records"] = tr.records
    return {"trace_off_s": best["off"], "trace_on_s": best["on"], **figures}
