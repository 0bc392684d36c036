"""Attacks that hold, kept holding: descriptor
probes and loads over every selector, far transfers to every kind of
selector (no call gate or TSS reachable), privileged instructions, the
trap flag and `pop ss` shadows, stores straddling into unmapped pages,
stores after a kill, and registers, flags and x87 state across blocking
calls and preemption on 1-3 CPUs. The expected answers are computed from
the SDM's rules and the GDT the kernel boots with, not copied from a run."""

import struct

import pytest

from kernel.boot import GDT

GP, PF, UD, DB, NP = 269, 270, 262, 257, 267
CPL = 3


def _desc(sel):
    """(access byte, flags nibble, limit) of the GDT descriptor sel names,
    or None when sel is null, in the LDT (LDTR is null) or beyond the limit."""
    idx = sel >> 3
    if sel & 4 or idx == 0 or idx >= len(GDT):
        return None
    d = GDT[idx]
    limit = (d & 0xFFFF) | ((d >> 32) & 0xF0000)
    flags = (d >> 52) & 0xF
    if flags & 0x8:
        limit = (limit << 12) | 0xFFF
    return (d >> 40) & 0xFF, flags, limit


def _kind(access):
    s, typ, dpl = access & 0x10, access & 0xF, (access >> 5) & 3
    code = bool(s and typ & 8)
    return dict(system=not s, code=code, conforming=code and bool(typ & 4),
                readable=bool(s and (not code or typ & 2)),
                writable=bool(s and not code and typ & 2), dpl=dpl,
                type=typ, present=bool(access & 0x80))


def expected_probe(sel):
    """Bits lar (1), lsl (2), verr (4), verw (8) set ZF for sel at CPL 3
    (SDM vol. 2: LAR, LSL, VERR/VERW)."""
    d = _desc(sel)
    if d is None:
        return 0
    k = _kind(d[0])
    priv = k["conforming"] or (k["dpl"] >= CPL and k["dpl"] >= sel & 3)
    if k["system"]:
        lar = k["type"] in (1, 2, 3, 4, 5, 9, 0xB, 0xC) and priv
        lsl = k["type"] in (1, 2, 3, 9, 0xB) and priv
        return lar | lsl << 1
    return (priv | priv << 1 | (k["readable"] and priv) << 2
            | (k["writable"] and priv) << 3)


PROBE = """
    xor ecx, ecx
    lea edi, [table]
next:
    xor edx, edx
    lar eax, ecx
    jnz nolar
    or dl, 1
    cmp ecx, 64
    jae nolar
    mov [values + 8 * ecx], eax
nolar:
    lsl eax, ecx
    jnz nolsl
    or dl, 2
    cmp ecx, 64
    jae nolsl
    mov [values + 8 * ecx + 4], eax
nolsl:
    verr cx
    jnz noverr
    or dl, 4
noverr:
    verw cx
    jnz noverw
    or dl, 8
noverw:
    mov [edi + ecx], dl
    inc ecx
    cmp ecx, 0x10000
    jne next
    mov eax, SYS_WRITE
    mov ebx, 1
    lea ecx, [table]
    mov edx, 0x10000 + 512
    int 0x80
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
.align 4
table: .zero 0x10000
values: .zero 512
"""


def test_lar_lsl_verr_verw_over_all_65536_selectors(run_sources):
    r = run_sources({"probe.s": PROBE})
    assert r.statuses == [0], r.stderr
    out = r.stdout.encode("latin-1")
    table, values = out[:0x10000], out[0x10000:]
    wrong = [(hex(s), table[s], expected_probe(s)) for s in range(0x10000)
             if table[s] != expected_probe(s)]
    assert wrong == []
    assert sum(1 for b in table if b) == 8          # ucode, udata x 4 RPLs
    for sel in range(64):
        if table[sel] & 1:
            lar, lsl = struct.unpack_from("<II", values, 8 * sel)
            access, flags, limit = _desc(sel)
            assert lar & 0x00F0FF00 == (access << 8) | (flags << 20)
            assert lsl == limit


# A driver spawns one child per (selector, operation) with the pair as its
# argument, waits for each, and exits 0; the report gives every child's end.
DRIVER = """
    lea esi, [cases]
again:
    mov edx, [esi]
    cmp edx, -1
    je done
    lea ebx, [name]
    mov ecx, 5
    mov eax, SYS_SPAWN
    int 0x80
    mov ebx, eax
    xor ecx, ecx
    mov eax, SYS_WAIT
    int 0x80
    add esi, 4
    jmp again
done:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
name: .ascii "child"
.align 4
cases:
"""

# The child: EAX = selector | op << 16. op 0-4: mov ds/es/fs/gs/ss;
# 5: far jmp; 6: far call; 7: retf (to the next instruction).
CHILD = """
    push 0                      # the stack page, present (see below)
    pop ebx
    mov ebx, eax
    shr ebx, 16
    and eax, 0xFFFF
    lea edi, [far]
    mov [edi + 4], ax
    lea ecx, [ok]
    mov [edi], ecx
    cmp ebx, 0
    je ds_
    cmp ebx, 1
    je es_
    cmp ebx, 2
    je fs_
    cmp ebx, 3
    je gs_
    cmp ebx, 4
    je ss_
    cmp ebx, 5
    je jmp_
    cmp ebx, 6
    je call_
    push eax
    push ecx
    retf
ds_: mov ds, ax
    jmp ok
es_: mov es, ax
    jmp ok
fs_: mov fs, ax
    jmp ok
gs_: mov gs, ax
    jmp ok
ss_: mov ss, ax
    jmp ok
jmp_:
    .byte 0xff, 0x2d
    .long far
call_:
    .byte 0xff, 0x1d
    .long far
ok:
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
.align 4
far: .long 0, 0
"""


def expected_load(sel, op):
    """(status, #GP error code or None) of a CPL-3 load of sel (SDM vol. 2
    MOV, JMP, CALL, RET, and vol. 3 5.8)."""
    gp = (GP, sel & 0xFFFC)
    d = _desc(sel)
    if op < 4:                                         # ds, es, fs, gs
        if sel & 0xFFFC == 0 and not sel & 4:
            return 0, None                             # a null selector
        if d is None:
            return gp
        k = _kind(d[0])
        if k["system"] or not k["readable"] or (
                not k["conforming"] and k["dpl"] < max(CPL, sel & 3)):
            return gp
        return (0, None) if k["present"] else (NP, sel & 0xFFFC)
    if op == 4:                                        # ss
        if sel & 0xFFFC == 0 and not sel & 4:
            return GP, 0
        if d is None:
            return gp
        k = _kind(d[0])
        if sel & 3 != CPL or not k["writable"] or k["dpl"] != CPL:
            return gp
        return 0, None
    if sel & 0xFFFC == 0 and not sel & 4:
        return GP, 0
    if d is None:
        return gp
    k = _kind(d[0])
    if k["system"] or not k["code"]:                   # no gate, no TSS here
        return gp
    if op == 7:                                        # retf: RPL < CPL
        if sel & 3 != CPL or k["dpl"] != CPL:
            return gp
        return 0, None
    if not k["conforming"] and k["dpl"] != CPL:
        return gp
    return 0, None


SELECTORS = list(range(0x30)) + [0x3B, 0x7F, 0x1234, 0x8003, 0xFFF8, 0xFFFF,
                                 0x1C, 0x1F]


def test_segment_loads_and_far_transfers_of_every_selector_class(run_sources):
    cases = [(s, op) for op in range(8) for s in SELECTORS]
    driver = DRIVER + "".join(f"    .long {s | op << 16:#x}\n"
                              for s, op in cases) + "    .long -1\n"
    r = run_sources({"driver.s": driver, "child.s": CHILD}, ["driver"])
    assert r.status(1) == 0, r.stderr
    wrong = []
    for pid, (sel, op) in enumerate(cases, start=2):
        p = r.proc(pid)
        got = (p["status"], (p["fault"] or {}).get("error_code"))
        if got != expected_load(sel, op):
            wrong.append((hex(sel), op, got, expected_load(sel, op)))
    assert wrong == []


UNTOUCHED = {
    # The same transfers with the stack page not yet touched (demand-zero):
    # a far call checks its selector before it pushes, so a bad selector is
    # #GP(sel) whatever the stack; a retf / iretd from a fresh page pops
    # zeros (the kernel fills the page as for any user access), so CS = 0:
    # #GP(0).
    "fcall.s": "mov esp, 0xBFFF8000\n .byte 0x9a\n .long 0x400000\n"
               " .short 0x10\n",
    "fretf.s": "mov esp, 0xBFFF8000\n retf\n",
    "firet.s": "mov esp, 0xBFFF8000\n iretd\n",
}


def test_far_transfers_on_an_untouched_stack_page(run_sources):
    r = run_sources(UNTOUCHED)
    got = [(p["status"], (p["fault"] or {}).get("error_code"))
           for p in r.report["processes"]]
    assert got == [(GP, 0x10), (GP, 0), (GP, 0)]


PRIVILEGED = {
    # instruction: status at CPL 3 with IOPL 0 (SDM vol. 3, 5.9, and each
    # instruction's protected-mode exceptions)
    "cli": GP, "sti": GP, "hlt": GP, "clts": GP, "invd": GP, "wbinvd": GP,
    "rdmsr": GP, "wrmsr": GP, "lgdt [esp]": GP, "lidt [esp]": GP,
    "lldt ax": GP, "ltr ax": GP, "lmsw ax": GP, "invlpg [esp]": GP,
    "mov cr0, eax": GP, "mov cr3, eax": GP, "mov cr4, eax": GP,
    "mov eax, cr0": GP, "mov eax, cr2": GP, "mov eax, cr3": GP,
    "mov dr7, eax": GP, "mov eax, dr6": GP, "in al, dx": GP, "out dx, al": GP,
    "in eax, 0x60": GP, "out 0x80, al": GP, "insb": GP, "outsd": GP,
    "int 3": GP, "int3": GP, "int 0x0e": GP, "int 0x21": GP, "int 1": GP,
    ".byte 0xf1": DB, "rdpmc": GP, "ud2": UD, "sysexit": GP,
    ".byte 0x0f, 0x01, 0xf8": UD,            # swapgs: #UD outside 64-bit
    "pushfd\n or dword ptr [esp], 0x3000\n popfd\n cli": GP,   # IOPL stays 0
    "mov eax, 0x23\n mov ss, ax\n hlt": GP,
}


def test_privileged_instructions_fault_as_on_hardware(run_sources):
    srcs = {f"p{i}.s": f"mov esp, 0xBFFFF000\n mov dx, 0x80\n mov esi, esp\n"
            f" mov edi, esp\n {ins}\n"
            "mov eax, SYS_EXIT\n xor ebx, ebx\n int 0x80\n"
            for i, ins in enumerate(PRIVILEGED)}
    srcs["bystander.s"] = BYSTANDER
    r = run_sources(srcs)
    got = {ins: r.status(i + 1) for i, ins in enumerate(PRIVILEGED)}
    assert got == PRIVILEGED, r.stderr
    assert r.status(len(PRIVILEGED) + 1) == 0


BYSTANDER = """
    mov esi, 30
1:
    mov eax, SYS_YIELD
    int 0x80
    dec esi
    jnz 1b
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
""".replace("1:", "by:").replace("1b", "by")

def test_ins_outs_check_permission_before_memory(run_sources):
    r = run_sources({"ins.s": "xor edi, edi\n mov dx, 0x80\n insb\n",
                     "outs.s": "xor esi, esi\n mov dx, 0x80\n outsd\n"})
    assert r.statuses == [GP, GP], r.stderr


def test_iret_with_nt_is_a_task_return_fault(run_sources):
    r = run_sources({"nt.s": "push 0x202\n push 0x1b\n lea eax, [next]\n"
                     " push eax\n pushfd\n or dword ptr [esp], 0x4000\n"
                     " popfd\n iretd\n next:\n mov eax, SYS_EXIT\n"
                     " xor ebx, ebx\n int 0x80\n"})
    assert (r.status(1), r.proc(1)["fault"]["error_code"]) == (266, 0)


TRAPS = {
    # TF set by popfd: a #DB after the next instruction.
    "tf.s": "pushfd\n or dword ptr [esp], 0x100\n popfd\n nop\n"
            "mov eax, SYS_EXIT\n mov ebx, 5\n int 0x80\n",
    # mov ss / pop ss hold the #DB over the next instruction, here a system
    # call (the shape of CVE-2018-8897): the call runs, the process dies of
    # #DB in ring 3 and the kernel survives.
    "popss.s": "push 0x23\n pushfd\n or dword ptr [esp], 0x100\n"
               " mov eax, SYS_GETPID\n popfd\n"
               ".byte 0x17\n int 0x80\n mov eax, SYS_EXIT\n int 0x80\n",
    "movss.s": "pushfd\n or dword ptr [esp], 0x100\n mov eax, 0x23\n popfd\n"
               " mov ss, ax\n int 0x80\n mov eax, SYS_EXIT\n int 0x80\n",
    # a syscall with TF set returns to ring 3 and traps there
    "tfcall.s": "pushfd\n or dword ptr [esp], 0x100\n mov eax, SYS_GETPID\n"
                " popfd\n int 0x80\n nop\n mov ebx, 7\n mov eax, SYS_EXIT\n"
                " int 0x80\n",
    "bystander.s": BYSTANDER,
}


def test_trap_flag_and_ss_shadows_kill_only_the_process(run_sources):
    r = run_sources(TRAPS)
    assert r.statuses[:4] == [DB] * 4, r.stderr
    assert r.statuses[4] == 0


STRADDLE = {
    # below the 64 KiB stack: a dword half in the stack, half below
    "stackbase.s": "mov dword ptr [0xBFFF0000], 0x11111111\n"
                   "mov eax, 0x22222222\n mov dword ptr [0xBFFEFFFE], eax\n",
    # past the end of the image
    "imgend.s": "lea ebx, [end]\n mov dword ptr [ebx - 4], 0x11111111\n"
                " mov dword ptr [ebx - 2], 0x22222222\n"
                ".align 4096\n end:\n",
    # a push whose bytes straddle the stack's lower edge
    "pushedge.s": "mov dword ptr [0xBFFF0000], 0x11111111\n"
                  "mov esp, 0xBFFF0002\n push 0x22222222\n",
    # rep movsd whose last element straddles
    "repmovs.s": "mov dword ptr [0xBFFF0000], 0x11111111\n"
                 "mov edi, 0xBFFEFFFE\n lea esi, [src]\n mov ecx, 3\n"
                 " .byte 0xf3, 0xa5\n src: .long 0x22222222, 0x22222222, 0x22222222\n",
}


class _Peek:
    """At each exit, the 4 bytes at va of that process (pid -> bytes)."""

    def __init__(self, where):
        self.where, self.seen = where, {}

    def on_exit(self, p):
        va = self.where.get(p.name)
        if va is not None and p.aspace is not None:
            self.seen[p.name] = p.aspace.copyin(va, 4)


def test_straddling_stores_write_nothing(run_sources):
    peek = _Peek({"stackbase": 0xBFFF0000, "pushedge": 0xBFFF0000,
                  "repmovs": 0xBFFF0000, "imgend": 0x400FFC})
    r = run_sources(STRADDLE, observers=[peek])
    assert r.statuses == [PF] * 4, r.stderr
    assert peek.seen == dict.fromkeys(peek.where, b"\x11" * 4)
    assert r.proc(1)["fault"]["cr2"] == 0xBFFEFFFE
    img_end_fault = r.proc(2)["fault"]
    assert img_end_fault["cr2"] & 0xFFF == 0        # the first unmapped byte


POSTKILL = {
    # The parent shares a page with its child; the child is killed by a
    # #GP and the rest of its translated block stores into that page. The
    # parent must find nothing there.
    "parent.s": """
        mov ebx, 0x77
        mov ecx, 4096
        mov edx, 0x1b6
        mov eax, SYS_SHM_CREATE
        int 0x80
        mov ebx, eax
        mov ecx, 0x50000000
        xor edx, edx
        mov eax, SYS_SHM_ATTACH
        int 0x80
        lea ebx, [name]
        mov ecx, 5
        xor edx, edx
        mov eax, SYS_SPAWN
        int 0x80
        mov ebx, eax
        xor ecx, ecx
        mov eax, SYS_WAIT
        int 0x80
        mov ebx, [0x50000000]
        or ebx, [0x50000004]
        mov eax, SYS_EXIT
        int 0x80
    name: .ascii "child"
    """,
    "child.s": """
        mov ebx, 0x77
        mov eax, SYS_SHM_LOOKUP
        int 0x80
        mov ebx, eax
        mov ecx, 0x50000000
        xor edx, edx
        mov eax, SYS_SHM_ATTACH
        int 0x80
        cli
        mov dword ptr [0x50000000], 0x22222222
        mov dword ptr [0x50000004], 0x22222222
        mov eax, SYS_EXIT
        xor ebx, ebx
        int 0x80
    """,
}


@pytest.mark.parametrize("cpus", [1, 2])
def test_no_store_lands_after_a_kill(run_sources, cpus):
    r = run_sources(POSTKILL, ["parent"], cpus=cpus)
    assert r.statuses == [0, GP], r.stderr


# Every general register, EFLAGS (CF PF AF ZF SF DF OF AC, IF) and the x87
# control word, TOP and stack are set, then the process blocks in recv (its
# partner sends after spinning) or yields, and spins where preemption can
# fall; after each it checks everything.
FL = 0x40ED7


def _regs(ebx, ecx, edx):
    return [f"mov ebx, {ebx:#x}", f"mov ecx, {ecx:#x}", f"mov edx, {edx:#x}",
            "mov edi, 0x55555555", "mov ebp, 0x66666666",
            f"push {FL:#x}", "popfd"]


def _check(ebx, ecx, edx):
    return ["pushfd", "pop eax", f"cmp eax, {FL:#x}", "jne bad",
            f"cmp ebx, {ebx:#x}", "jne bad", f"cmp ecx, {ecx:#x}", "jne bad",
            f"cmp edx, {edx:#x}", "jne bad", "cmp edi, 0x55555555",
            "jne bad", "cmp ebp, 0x66666666", "jne bad", "cld",
            "fnstcw [cwnow]", "mov ax, [cwnow]", "cmp ax, [cw]", "jne bad",
            "fnstsw ax", "shr eax, 11", "and eax, 7", "cmp eax, 2", "jne bad",
            "fld st(0)", "fstp qword ptr [v]",
            "cmp dword ptr [v + 4], 0xBFF00000", "jne bad",
            "fld st(5)", "fstp qword ptr [v]",
            "cmp dword ptr [v + 4], 0x3FF00000", "jne bad"]


RECV = (0xBFFFF000, 4, 0)
PLAIN = (0x11111111, 0x22222222, 0x33333333)
KEEPER = "\n".join(
    ["finit", "fldcw [cw]", "fld1", "fldpi", "fldl2e", "fldlg2", "fldln2",
     "fld1", "fchs", "mov esi, 400", "round:", "test esi, 3", "jnz plain"]
    + _regs(*RECV) + ["mov eax, SYS_RECV", "int 0x80"] + _check(*RECV)
    + ["jmp spin", "plain:"] + _regs(*PLAIN)
    + ["mov eax, SYS_YIELD", "int 0x80"] + _check(*PLAIN)
    + ["spin:"] + _regs(*PLAIN) + ["nop"] * 60 + _check(*PLAIN)
    + ["dec esi", "jnz round", "mov eax, SYS_EXIT", "xor ebx, ebx",
       "int 0x80", "bad:", "mov eax, SYS_EXIT", "mov ebx, 1", "int 0x80",
       ".align 8", "v: .long 0, 0", "cw: .short 0x0C7F", "cwnow: .short 0"])

FEEDER = """
    mov esi, 100
again:
    mov ecx, 300
spin:
    dec ecx
    jnz spin
    mov eax, SYS_SEND
    mov ebx, 1
    lea ecx, [msg]
    mov edx, 4
    int 0x80
    dec esi
    jnz again
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
msg: .long 7
"""


@pytest.mark.parametrize("cpus, quantum", [(1, 37), (2, 53), (3, 101),
                                           (1, 0), (2, 0)])
def test_registers_flags_and_x87_survive_blocking_and_preemption(
        run_sources, cpus, quantum):
    kw = {"quantum": quantum, "seed": 9} if quantum else {}
    r = run_sources({"keeper.s": KEEPER, "feeder.s": FEEDER},
                    cpus=cpus, **kw)
    assert r.statuses == [0, 0], r.stderr
