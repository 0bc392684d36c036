"""Ring 3 sees the hardware's answer (docs/abi.md): far transfers
whose stack lies in the kernel half, the kernel-half leak, icebp, rdpmc,
smsw. Each test fails if its fix is removed."""

import pytest

from kernel.memlayout import GDT_PA, kva
from tools.bench.main import LONG_WRITE

PF, GP, DB = 270, 269, 257

# The kernel-half address of the GDT, as `sgdt` reveals it, into EBX
# (encoded by hand: keystone adds a 66 prefix, which stores 24 bits).
SGDT = """
    sub esp, 8
    .byte 0x0f, 0x01, 0x04, 0x24    # sgdt [esp]
    mov ebx, [esp + 2]
    add esp, 8
"""

MINIMAL = {
    # retf with ESP on the GDT: Unicorn read the null descriptor as
    # supervisor and raised #GP; hardware: a user read of a supervisor
    # page, #PF 0x5 at ESP.
    "retfgdt.s": SGDT + "mov esp, ebx\n retf\n",
    # iretd with ESP in the kernel half but not on the GDT page: nothing
    # is mapped there in a user directory: #PF 0x4.
    "iretk.s": "mov esp, 0xC0400000\n iretd\n",
    # A far call's pushes into the GDT page: a user write to a present
    # supervisor page, #PF 0x7 (Unicorn: 0x3, a supervisor write).
    "farcgdt.s": SGDT + """
        lea esp, [ebx + 0x20]
        .byte 0x9a
        .long 0x400000
        .short 0x1b
    """,
    # ... and to an unmapped kernel-half page: #PF 0x6.
    "farck.s": """
        mov esp, 0xC0009100
        .byte 0x9a
        .long 0x400000
        .short 0x1b
    """,
    # A retf whose EIP is on the user stack and whose CS is the first
    # dword of the kernel half: #PF at exactly 0xC0000000.
    "retfedge.s": "mov esp, 0xBFFFFFFC\n mov dword ptr [esp], 0x400000\n"
                  " retf\n",
}


def test_far_transfers_into_the_kernel_half_fault_as_on_hardware(run_sources):
    r = run_sources(MINIMAL)
    got = {p["name"]: (p["status"], p["fault"]["cr2"], p["fault"]["error_code"])
           for p in r.report["processes"]}
    gdt = kva(GDT_PA)
    assert got == {
        "retfgdt": (PF, gdt, 0x5),
        "iretk": (PF, 0xC0400000, 0x4),
        "farcgdt": (PF, gdt + 0x1C, 0x7),
        "farck": (PF, 0xC00090FC, 0x6),
        "retfedge": (PF, 0xC0000000, 0x4),
    }, r.stderr
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


# The leak: a victim holds a secret in a private page; attackers try every
# 4 MiB of the kernel half (where, before the fix, all of RAM was mapped
# supervisor-only) through retf, iretd and a far call, on the offset the
# victim's frame would have there. Each attacker exits with the bytes it
# read, if any instruction ever completes.
VICTIM = """
    mov dword ptr [secret], 0x5EC2E7A5
    mov eax, SYS_YIELD
    int 0x80
    mov eax, SYS_YIELD
    int 0x80
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
.align 4096
secret: .long 0
"""

ATTACKER = """
    mov esi, eax                   # arg: method in bits 0-1, chunk above
    mov edi, eax
    shr edi, 2
    shl edi, 22
    add edi, 0xC0000000 + 0x1000 * 31  # a frame a victim page may hold
    and esi, 3
    cmp esi, 1
    je do_iret
    cmp esi, 2
    je do_call
    mov esp, edi
    retf
do_iret:
    mov esp, edi
    iretd
do_call:
    lea esp, [edi + 8]
    .byte 0x9a
    .long 0x400000
    .short 0x1b
"""

DRIVER = """
    xor esi, esi
next:
    lea ebx, [name]
    mov ecx, 7
    mov edx, esi
    mov eax, SYS_SPAWN
    int 0x80
    mov ebx, eax
    lea ecx, [status]
    mov eax, SYS_WAIT
    int 0x80
    cmp dword ptr [status], 270
    jne fail
    inc esi
    cmp esi, {n}
    jb next
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
fail:
    mov ebx, esi
    add ebx, 1000
    mov eax, SYS_EXIT
    int 0x80
name: .ascii "attackr"
status: .long 0
"""


@pytest.mark.parametrize("cpus", [1, 2])
def test_no_kernel_half_offset_reads_another_process(run_sources, cpus):
    n = 3 * 32                     # 3 methods x every 4 MiB of 128 MiB
    r = run_sources({"victim.s": VICTIM, "attackr.s": ATTACKER,
                     "driver.s": DRIVER.format(n=n)},
                    boot_names=["victim", "driver"], cpus=cpus, quantum=500)
    assert r.statuses[:2] == [0, 0], r.stderr
    attackers = r.report["processes"][2:]
    assert len(attackers) == n
    assert all(p["status"] == PF and p["fault"]["error_code"] & 4
               for p in attackers)
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


COSMETIC = {
    "icebp.s": ".byte 0xf1\n",
    "rdpmc.s": "xor ecx, ecx\n rdpmc\n",
    "smsw.s": "smsw eax\n mov ebx, eax\n and ebx, 0xffff\n"
              " mov eax, SYS_EXIT\n int 0x80\n",
}


def test_icebp_rdpmc_smsw_as_on_hardware(run_sources):
    r = run_sources(COSMETIC)
    by = {p["name"]: p for p in r.report["processes"]}
    assert by["icebp"]["status"] == DB
    assert by["rdpmc"]["status"] == GP and \
        by["rdpmc"]["fault"]["error_code"] == 0
    # CR0: PE, ET (hardwired to 1 since the i486), WP and PG in the high half.
    assert by["smsw"]["status"] == 0x11


# -- bounded copies: one write of a buffer far larger than the host would
# want to hold (512 MiB), built from one 64 MiB segment attached 8 times.
BIGWRITE = LONG_WRITE         # the same program `make bench` times

BYSTANDER = """
    mov esi, 1000               # outlasts the write's 256 turns
again:
    mov eax, SYS_WRITE
    mov ebx, 2
    lea ecx, [b]
    mov edx, 1
    int 0x80
    mov eax, SYS_YIELD
    int 0x80
    dec esi
    jnz again
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
b: .ascii "b"
"""


class Sink:
    """A console stream that keeps only what a test needs to know: runs of
    writes to one fd as [fd, bytes, longest write]."""

    def __init__(self, log):
        self.log, self.fd = log, None

    def write(self, data):
        if self.log and self.log[-1][0] == self.fd:
            run = self.log[-1]
            run[1] += len(data)
            run[2] = max(run[2], len(data))
        else:
            self.log.append([self.fd, len(data), len(data)])

    def flush(self):
        pass


def test_a_huge_write_streams_in_bounded_memory_and_lets_others_run(tmp_path):
    import tracemalloc
    from tests.conftest import Run  # noqa: F401
    from kernel.kernel import Console, Kernel
    from tools.toolchain.programs import Programs
    progs = Programs()
    for name, text in (("bigw.s", BIGWRITE), ("bystand.s", BYSTANDER)):
        (tmp_path / name).write_text(text)
        progs.add(tmp_path / name)
    log = []
    out, err = Sink(log), Sink(log)
    out.fd, err.fd = 1, 2
    k = Kernel(progs, console=Console(out, err))
    k.boot(["bigw", "bystand"])
    tracemalloc.start()
    k.run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [p.status for p in k.procs] == [0, 0]
    big = [run for run in log if run[0] == 1]
    assert sum(r[1] for r in big) == 0x20000000
    assert max(r[2] for r in big) <= 4096
    assert peak < 4 << 20, f"the kernel held {peak} bytes at once"
    # The bystander ran between the write's turns, not only after it.
    fds = [run[0] for run in log]
    first, last = fds.index(1), len(fds) - 1 - fds[::-1].index(1)
    assert 2 in fds[first:last], log
    assert k.frames.nfree == k.stats.frames_free_at_boot


# -- iret at CPL 3 never enters virtual-8086 mode (finding 3). Each program
# exits with EFLAGS & (VM | IOPL) after its iret: 0 as on hardware.
VM_IOPL = 0x23000
IRET_VM = """
    push 0                      # GS, FS, DS, ES, SS, ESP: what a return to
    push 0                      # vm86 mode would pop next (so Unicorn's
    push 0                      # own path would succeed and run 16-bit
    push 0                      # code)
    push 0
    push 0x1000
    push 0x00023202             # EFLAGS: VM, IOPL 3, IF
    push 0x1b
    lea eax, [back]
    push eax
    {iret}
back:
    pushfd
    pop ebx
    and ebx, 0x23000
    mov eax, SYS_EXIT
    int 0x80
"""
FIRST = """
    push 0x00023202             # all of it in the program's first block
    push 0x1b
    lea eax, [back]
    push eax
    iretd
back:
    pushfd
    pop ebx
    and ebx, 0x23000
    mov eax, SYS_EXIT
    int 0x80
"""
BAD_CS = "push 0x00023202\n push 0x23\n push 0x400000\n iretd\n"
# 70 iret sites, more than the guard hooks at once on one CPU.
MANY = "\n".join(f"""
    push 0x00023202
    push 0x1b
    lea eax, [b{i}]
    push eax
    iretd
b{i}:
    pushfd
    pop ebx
    test ebx, 0x23000
    jnz out""" for i in range(70)) + """
    xor ebx, ebx
out:
    mov eax, SYS_EXIT
    int 0x80
"""


@pytest.mark.parametrize("cpus", [1, 2])
def test_iret_never_enters_vm86_mode(run_sources, cpus):
    r = run_sources({"ivm.s": IRET_VM.format(iret="iretd"),
                     "ivmcs.s": IRET_VM.format(iret=".byte 0x2e, 0xcf"),
                     "first.s": FIRST, "first2.s": FIRST,
                     "badcs.s": BAD_CS, "many.s": MANY},
                    cpus=cpus, quantum=300)
    by = {p["name"]: p for p in r.report["processes"]}
    for name in ("ivm", "ivmcs", "first", "first2", "many"):
        assert by[name]["status"] == 0, (name, r.stderr)
    assert by["badcs"]["status"] == GP
    assert by["badcs"]["fault"]["error_code"] == 0x20
