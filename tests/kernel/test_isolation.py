"""Faults kill only the faulting process, with docs/abi.md's status and a full
report, while other processes keep running (userland/tests/faults.s and
its driver isolation.c, intn.s and allints.c, reuse.s, spinner.s)."""

import pytest

from emu.x86 import PTE_ADDR
from kernel.memlayout import USER_IMAGE

PF, GP, UD, DE = 270, 269, 262, 256

# faults.s case -> (status, cr2, error_code, instruction); vector = status-256.
CASES = [
    (PF, 0x0, 0x4, "mov eax, dword ptr [0]"),                  # null read
    (PF, 0x0, 0x6, "mov dword ptr [0], 1"),                    # null write
    # The kernel half of a user directory maps only the GDT page
    # (0xC0001000, present, supervisor): elsewhere it is not present.
    (PF, 0xC0000000, 0x4, "mov eax, dword ptr [0xc0000000]"),  # kernel read
    (PF, 0xC0001234, 0x7, "mov dword ptr [0xc0001234], eax"),  # GDT write
    (PF, 0xC0000000, 0x4, None),                               # kernel jump
    (GP, None, 0, "cli"),
    (GP, None, 0, "hlt"),
    (GP, None, 0, "in al, dx"),
    (GP, None, 0, "out dx, al"),
    (GP, None, 0, "mov cr3, eax"),
    (GP, None, 0x0E << 3 | 2, "int 0xe"),     # never taken for a #PF
    (GP, None, 3 << 3 | 2, "int3"),
    (GP, None, 3 << 3 | 2, "int 3"),
    (GP, None, 0x81 << 3 | 2, "int 0x81"),
    (GP, None, 4 << 3 | 2, "into"),           # OF = 1
    (UD, None, None, "ud2"),
    (UD, None, None, None),                   # fe f8: no such instruction
    (DE, None, None, "div ecx"),
    (DE, None, None, "idiv ecx"),             # 0x80000000 / -1
    (PF, 0xBFFEFFFC, 0x6, "push eax"),        # after 16 handled faults
    (GP, None, 0, "in al, 0x60"),
    (GP, None, 0, "insb byte ptr es:[edi], dx"),
    (GP, None, 0, "outsb dx, byte ptr [esi]"),
    (GP, None, 8 << 3 | 2, "int 8"),          # never a double fault
    (GP, None, 0 << 3 | 2, "int 0"),          # never a divide error
    (GP, None, 6 << 3 | 2, "int 6"),          # never an invalid opcode
    (GP, None, 0, "lgdt [0x400000]"),
    (GP, None, 0, "invlpg byte ptr [0x400000]"),
    (PF, 0x00800000, 0x4, None),              # jump to an unmapped page
    (DE, None, None, "div ecx"),              # after a handled #PF
    (0, None, None, None),                    # into with OF = 0: no trap
    (GP, None, 0x0E << 3 | 2, "int 0xe"),     # after a handled #PF
    (UD, None, None, "syscall"),              # EFER.SCE = 0
    (GP, None, 0, "sysenter"),                # SYSENTER_CS = 0
]
FIRST_CHILD = 3        # pid 1 isolation, pid 2 spinner


@pytest.fixture(scope="module", params=[0, 2000], ids=["timer", "quantum"])
def isolation(request):
    from tests.conftest import boot
    from tools.toolchain.programs import Programs
    return boot(Programs(), ["isolation", "spinner"], quantum=request.param)


def test_driver_and_bystander_survive_every_fault(isolation):
    r = isolation
    assert r.status(1) == 0, r.stderr
    assert r.status(2) == 0
    assert f"all {len(CASES)} cases ok" in r.stdout
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fault_report(isolation, case):
    status, cr2, err, insn = CASES[case]
    p = isolation.proc(FIRST_CHILD + case)
    assert (p["name"], p["status"]) == ("faults", status)
    f = p["fault"]
    if status == 0:
        assert f is None
        return
    assert f["vector"] == status - 256
    assert (f["cr2"], f["error_code"], f["instruction"]) == (cr2, err, insn)
    if insn is None and status == PF:          # a fetch: EIP is the target
        assert f["eip"] == cr2
    else:
        assert USER_IMAGE < f["eip"] < USER_IMAGE + 0x1000


def test_no_double_fault_anywhere(isolation):
    assert all(p["status"] != 256 + 8 for p in isolation.report["processes"])
    assert "double fault" not in isolation.stderr
    assert isolation.stderr.count("killed") == len(CASES) - 1


def test_every_software_int_but_0x80_is_a_gp(run_userland):
    r = run_userland("allints", "spinner")
    assert r.statuses[:2] == [0, 0], r.stderr
    vectors = [n for n in range(256) if n != 0x80]
    faults = [r.proc(3 + i)["fault"] for i in range(len(vectors))]
    assert [f["error_code"] for f in faults] == [n << 3 | 2 for n in vectors]
    assert {f["vector"] for f in faults} == {13}
    assert {f["cr2"] for f in faults} == {None}
    assert len({f["eip"] for f in faults}) == 1     # the patched int itself
    assert all(f["instruction"].startswith("int") for f in faults)


class CodeFrames:
    """Kernel observer: the frame each process's first image page was in."""

    def __init__(self):
        self.frame = {}

    def on_exit(self, p):
        self.frame[p.name] = p.aspace.pte(USER_IMAGE) & PTE_ADDR


def test_new_code_in_a_reused_frame_runs(run_userland):
    frames = CodeFrames()
    r = run_userland("reuse", observers=[frames], quantum=100_000)
    assert frames.frame["codea"] == frames.frame["codeb"], \
        "precondition: codeb must load into codea's old code frame"
    assert r.statuses == [0, 0x41, 0x42]
    assert r.stdout == "B!\n"


AFTER_KILL = {
    # The killing in/out is mid-block: what follows must have no effect.
    "inwrite.s": """
        mov ebx, 0x11111111
        add ebx, ebx
        in al, dx
        mov [data], ebx
        mov [0xBFFFFFF0], ebx
        lea ecx, [msg]
        mov edx, 6
        mov ebx, 1
        mov eax, SYS_WRITE
        int 0x80
    msg: .ascii "alive\\n"
    data: .long 0
    """,
    "outud.s": "out dx, al\nud2\n",
    "outspawn.s": """
        out dx, al
        lea ebx, [name]
        mov ecx, 5
        mov eax, SYS_SPAWN
        int 0x80
    name: .ascii "outud"
    """,
}


def test_nothing_runs_after_a_port_io_kill(run_sources):
    r = run_sources(AFTER_KILL)
    assert r.statuses == [GP, GP, GP]
    assert r.stdout == ""
    assert r.stderr.count("killed") == 3
    assert b"\x22\x22\x22\x22" not in bytes(r.kernel.hw.mem)
    assert r.stats["frames_free_at_end"] == r.stats["frames_free_at_boot"]


FAR_CALLS = {
    # Unicorn makes a ring-3 far call's pushes as supervisor writes: with
    # ESP in the kernel half they must fault, not write physical RAM.
    "farkern.s": """
        mov esp, 0xC0009100
        .byte 0x9a
        .long target
        .short 0x1b
    target:
        mov ebx, 0
        mov eax, SYS_EXIT
        int 0x80
    """,
    # The same call on a fresh user stack page works, as on hardware.
    "farstack.s": """
        .byte 0x9a
        .long target
        .short 0x1b
    target:
        pop ebx                     # the return EIP: target itself
        pop ecx                     # the return CS
        sub ebx, target
        sub ecx, 0x1b
        or ebx, ecx
        mov eax, SYS_EXIT
        int 0x80
    """,
}


def test_far_call_cannot_write_the_kernel_half(run_sources):
    r = run_sources(FAR_CALLS)
    assert r.statuses == [270, 0], r.stderr
    f = r.proc(1)["fault"]
    # Hardware: a user write to a page the user directory does not map.
    assert (f["cr2"], f["error_code"]) == (0xC00090FC, 0x6)
    assert r.kernel.hw.read(0x90F0, 16) == bytes(16)


@pytest.mark.parametrize("quantum", [0, 5])
def test_no_stale_translations_across_switches(run_userland, quantum):
    r = run_userland("tlb", "tlb", "tlb", quantum=quantum)
    assert r.statuses == [0, 0, 0]
