"""What the benchmark sections share: the guest programs they time and
kernel_seconds, which runs them in a fresh kernel."""

import io
import time

from kernel.kernel import Console, Kernel
from kernel.proc.loader import flat_image
from tools.toolchain.asm import assemble_source

LOOP = """
    mov esi, {n}
top:
    add eax, ecx
    add ecx, 3
    dec esi
    jnz top
"""
LOOP_INSNS = 4
GETPID = """
    mov esi, {n}
top:
    mov eax, SYS_GETPID
    int 0x80
    dec esi
    jnz top
"""
YIELD = GETPID.replace("SYS_GETPID", "SYS_YIELD")
EXIT = "\n    mov eax, SYS_EXIT\n    xor ebx, ebx\n    int 0x80\n"


def kernel_seconds(progs, boot, **kw):
    """Boot, start boot, run to the end; seconds spent in Kernel.run."""
    images = {n: flat_image(n, assemble_source(src))
              for n, src in progs.items()}
    k = Kernel(images, console=Console(io.BytesIO(), io.BytesIO()), **kw)
    k.boot(boot)
    t = time.perf_counter()
    k.run()
    dt = time.perf_counter() - t
    assert all(p.status == 0 for p in k.procs), "bench program failed"
    return dt
