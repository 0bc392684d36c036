"""The attacker's moves, as random guest assembly for tools/fuzz/campaign.py.

A hostile program is a straight line of moves; jumps and far transfers
only go forward (to the move's own continuation label), so every program
ends. Moves:
- far returns (`retf`, `retf n`), `iretd`s and far `call`s / `jmp`s with a
  crafted frame, ESP in every region (user stack, image, unmapped, shared
  memory, just below 0xC0000000, the kernel half: the GDT's address as
  `sgdt` tells it, the canary's frame, every 4 MiB), selectors of every
  class and EFLAGS with VM, IOPL, NT, TF, AC;
- segment-register loads (`mov`, `pop`, `lds`...) of every selector class,
  and `lar`/`lsl`/`verr`/`verw`/`sgdt`/`sldt`/`str`/`smsw`;
- system calls on huge and overlapping buffers built from one segment
  attached many times back to back;
- code written then run: by the kernel (`recv` of code over a function, a
  child's exit status stored by `wait`, `shm_stat`'s key) and by another
  process through shared memory; the program checks it runs the new bytes
  and exits with a STALE status when it does not;
- the plain random instructions and system calls of tools/fuzz/campaign.py.
"""

from kernel.memlayout import GDT_PA, KERNBASE

# Exit statuses a program uses to report a violation it saw itself.
STALE = {0x5EC0DE01: "recv wrote code the CPU did not see",
         0x5EC0DE02: "wait's status wrote code the CPU did not see",
         0x5EC0DE03: "shm_stat wrote code the CPU did not see",
         0x5EC0DE04: "another process's store to shared code was not seen",
         0x5EC0DE05: "the program's own store to its code was not seen",
         0x5EC0DE06: "a store to code in shm was not seen after yields",
         0x5EC0DE07: "a store to copy-on-write code after fork was not seen",
         0x5EC0DE08: "a child's store to its code reached its parent",
         0x5EC0DE09: "futex_wake on a private word woke another process",
         0x5EC0DE0A: "a large page read back other than written"}

# Data page layout (offsets from the `data` label).
SAVE, FAR, SGDT, SHMID, CHILD, FROM, STEP = (0x1000, 0x1010, 0x1020,
                                             0x1030, 0x1034, 0x1038, 0x1040)
SHMA = 0x01000000           # where a program attaches its segment, n times
SHM_KEY_BASE = 0x5E000000   # keys of segments shared with a helper
NEW = 0x600DC0DE            # what freshly written code returns
OLD = 0x0BAD0BAD            # what the code it replaced returned

HOSTILE_EFLAGS = (0x20000, 0x3000, 0x1000, 0x4000, 0x100, 0x40000, 0x10000,
                  0x400, 0x200000, 0x80000, 0x100000)
UNMAPPED = (0x00000FF8, 0x00000000, 0x00800000, 0x00F00000, 0xBFFEFFF8,
            0xBFFEFFFC, 0xFFFFFFFC)
JUST_BELOW = (0xBFFFFFFC, 0xBFFFFFF8, 0xBFFFFFF4, 0xBFFFFFF0, 0xBFFFFFEC,
              0xBFFFFFE8)
SEGS = ("ds", "es", "fs", "gs", "ss")

HELPERS = {
    # exits with its spawn argument (wait stores it over code)
    "hexiter": """
        mov ebx, eax
        mov eax, SYS_EXIT
        int 0x80
    """,
    # sends `mov eax, NEW; ret` to the pid given as its argument
    "hsendcode": f"""
        mov ebx, eax
        lea ecx, [code]
        mov edx, 6
        mov eax, SYS_SEND
        int 0x80
        mov eax, SYS_EXIT
        xor ebx, ebx
        int 0x80
    code:
        mov eax, {NEW:#x}
        ret
    """,
    # writes `mov eax, NEW; ret` at offset 0 of the segment with key arg;
    # exits 0 only when it did
    "hshmcoder": f"""
        mov ebx, eax
        mov eax, SYS_SHM_LOOKUP
        int 0x80
        test eax, eax
        js out
        mov ebx, eax
        xor ecx, ecx
        xor edx, edx
        mov eax, SYS_SHM_ATTACH
        int 0x80
        cmp eax, -4095
        jae out
        mov byte ptr [eax], 0xb8
        mov dword ptr [eax + 1], {NEW:#x}
        mov byte ptr [eax + 5], 0xc3
        mov eax, SYS_EXIT
        xor ebx, ebx
        int 0x80
    out:                        # the segment is gone (destroyed by another
        mov eax, SYS_EXIT       # program): status 1, nothing was written
        mov ebx, 1
        int 0x80
    """,
}

CANARY = """
    lea esi, [secret]           # 16 bytes the fuzzer writes after loading
    lea edi, [spread]
    xor edx, edx
fill:                           # records an iretd or retf would pop:
    call record                 # [secret word j] [0x1b] [0x202] [word j+1]
    mov [edi], ecx
    mov dword ptr [edi + 4], 0x1b
    mov dword ptr [edi + 8], 0x202
    mov [edi + 12], ebx
    add edi, 16
    inc edx
    cmp edx, 256
    jne fill
    push dword ptr [esi + 12]   # on its stack
    push dword ptr [esi + 8]
    push dword ptr [esi + 4]
    push dword ptr [esi]
    mov ebx, [esi]              # and in its registers, across every switch
    mov ecx, [esi + 4]
    mov edx, [esi + 8]
    mov ebp, [esi + 12]
    mov edi, 60
spin:
    mov eax, SYS_YIELD
    int 0x80
    dec edi
    jnz spin
    cmp ebx, [esi]
    jne bad
    cmp ecx, [esi + 4]
    jne bad
    cmp edx, [esi + 8]
    jne bad
    cmp ebp, [esi + 12]
    jne bad
    mov edi, 4
unwind:
    pop eax
    cmp eax, [esi + 4 * edi - 16]
    jne bad
    inc edi
    cmp edi, 8
    jne unwind
    lea edi, [spread]
    xor edx, edx
check:
    call record
    cmp [edi], ecx
    jne bad
    cmp dword ptr [edi + 4], 0x1b
    jne bad
    cmp dword ptr [edi + 8], 0x202
    jne bad
    cmp [edi + 12], ebx
    jne bad
    add edi, 16
    inc edx
    cmp edx, 256
    jne check
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80
bad:
    mov eax, SYS_EXIT
    mov ebx, 1
    int 0x80
record:                         # ecx = secret word edx % 4, ebx = the next
    mov eax, edx
    and eax, 3
    mov ecx, [esi + 4 * eax]
    inc eax
    and eax, 3
    mov ebx, [esi + 4 * eax]
    ret
.align 4096
spread: .zero 4096
secret: .zero 16
"""


def selector(rng):
    """A selector of a random class (the user code selector 0x1B most
    often, so that many transfers succeed and the program goes on)."""
    cls = rng.choices(range(8), (30, 8, 8, 8, 8, 10, 10, 8))[0]
    rpl = rng.randrange(4)
    if cls == 0:
        return 0x1B
    if cls == 1:
        return rng.randrange(4)                       # null, any RPL
    if cls in (2, 3, 4):
        return (8 * (cls - 1)) | rpl                  # kernel code/data, ucode
    if cls == 5:
        return 0x20 | rpl                             # user data
    if cls == 6:
        return (rng.randrange(5, 8192) << 3) | rpl    # beyond the GDT
    if cls == 7:
        return (rng.randrange(8192) << 3) | 4 | rpl   # LDT
    return rng.getrandbits(16)


def eflags(rng):
    """0x202, or 0x202 with hostile bits, or 32 random bits."""
    r = rng.random()
    if r < 0.35:
        return 0x202
    if r < 0.9:
        v = 0x202
        for bit in rng.sample(HOSTILE_EFLAGS, rng.randrange(1, 4)):
            v |= bit
        return v
    return rng.getrandbits(32)


class Targets:
    """Kernel-half addresses worth aiming at: the GDT, the canary's secret
    (its physical address, as an attacker predicts it: frames are handed
    out lowest first) and every 4 MiB of the kernel half."""

    def __init__(self, canary_pa=None):
        self.fixed = [KERNBASE, KERNBASE + GDT_PA, KERNBASE + GDT_PA + 8,
                      KERNBASE + GDT_PA + 0x18]
        self.canary = [KERNBASE + canary_pa] if canary_pa else []

    def kernel_esp(self, rng):
        r = rng.random()
        if self.canary and r < 0.35:
            return self.canary[0] + rng.randrange(0, 4096, rng.choice((16, 4)))
        if r < 0.55:
            return rng.choice(self.fixed)
        return KERNBASE + (rng.randrange(256) << 22) + rng.randrange(0, 4096, 4)


class Writer:
    """Builds one program's moves; i is the move's index (labels l{i}, c{i})."""

    def __init__(self, rng, targets, shm):
        self.rng, self.t = rng, targets
        self.shm = shm              # (size, count) of the program's segment
        self.lines = []

    def emit(self, *lines):
        self.lines.extend("    " + ln for ln in lines)

    def label(self, name):
        self.lines.append(f"{name}:")

    def tail(self):
        """The lines after the program's code: its data pages."""
        return [".align 4096", "data: .zero 8192"]

    # -- far transfers ----------------------------------------------------
    def set_esp(self, i):
        """Point ESP into a random region; return (how, constant or None):
        constant is ESP's value when known here."""
        rng = self.rng
        region = rng.choices(range(7), (14, 10, 10, 10 if self.shm else 0,
                                        10, 20, 10))[0]
        if region == 0:
            v = 0xBFFF0000 + rng.randrange(0, 0x10000 - 64, 4)
        elif region == 1:
            self.emit(f"lea esp, [data + {rng.randrange(0, 4032, 4)}]")
            return "image", None
        elif region == 2:
            v = rng.choice(UNMAPPED)
        elif region == 3:
            size, n = self.shm
            off = rng.choice((0, size - 8, size - 4, n * size - 8,
                              n * size - 12, rng.randrange(0, n * size, 4)))
            self.emit(f"mov esp, {SHMA + off:#x}")
            return "shm", None
        elif region == 4:
            v = rng.choice(JUST_BELOW)
        elif region == 5:
            v = self.t.kernel_esp(rng)
        else:                               # the GDT's address, as sgdt says
            self.emit(".byte 0x0f, 0x01, 0x05", f".long data + {SGDT}",
                      f"mov esp, dword ptr [ebp + {SGDT + 2}]",
                      f"add esp, {rng.choice((0, 8, 16, 24, -8, 4096))}")
            return "gdt", None
        self.emit(f"mov esp, {v & 0xFFFFFFFF:#x}")
        return "const", v & 0xFFFFFFFF

    def frame(self, i, dwords, esp):
        """Write dwords at ESP where the user may (never into the kernel half,
        which would only fault on the store, not test the transfer)."""
        for n, val in enumerate(dwords):
            if esp is not None and not esp + 4 * n < KERNBASE:
                break
            if val == "eip":
                self.emit(f"lea eax, [c{i}]", f"mov dword ptr [esp + {4 * n}], eax")
            else:
                self.emit(f"mov dword ptr [esp + {4 * n}], {val:#x}")

    def far_transfer(self, i):
        rng = self.rng
        kind = rng.choice(("retf", "retf", "retfn", "iretd", "iretd",
                           "iretd", "callfar", "callind", "jmpind"))
        sel = selector(rng)
        self.emit(f"mov dword ptr [ebp + {SAVE}], esp")
        if kind in ("callind", "jmpind"):
            self.emit(f"lea eax, [c{i}]", f"mov dword ptr [ebp + {FAR}], eax",
                      f"mov word ptr [ebp + {FAR + 4}], {sel:#x}")
        how, esp = self.set_esp(i)
        write = rng.random() < 0.8 and how != "gdt"
        if kind in ("retf", "retfn") and write:
            self.frame(i, ["eip", sel], esp)
        elif kind == "iretd" and write:
            words = ["eip", sel, eflags(rng)]
            if rng.random() < 0.5:          # a vm86 or outer-ring frame
                words += [rng.choice((0xBFFFF000, 0x1000, rng.getrandbits(32))),
                          selector(rng)] + [selector(rng) for _ in range(4)]
            self.frame(i, words, esp)
        if kind == "retf" or (kind == "retfn" and rng.random() < 0.3):
            self.emit("retf")
        elif kind == "retfn":
            self.emit(f"retf {rng.choice((4, 8, 0x100, 0xFFFC))}")
        elif kind == "iretd":
            self.emit("iretd")
        elif kind == "callfar":
            self.emit(".byte 0x9a", f".long c{i}", f".short {sel:#x}")
        elif kind == "callind":
            self.emit(".byte 0xff, 0x1d", f".long data + {FAR}")
        else:
            self.emit(".byte 0xff, 0x2d", f".long data + {FAR}")
        self.label(f"c{i}")
        self.emit(f"mov esp, dword ptr [ebp + {SAVE}]")
        if rng.random() < 0.7:
            self.emit("push 0x202", "popfd")

    # -- descriptors ------------------------------------------------------
    def segment_load(self, i):
        rng = self.rng
        sel = selector(rng)
        seg = rng.choice(SEGS)
        how = rng.randrange(4)
        if how == 0:
            self.emit(f"mov eax, {sel:#x}", f"mov {seg}, ax")
        elif how == 1 and seg != "ss":
            self.emit(f"push {sel:#x}", f"pop {seg}")
        elif how == 1:
            self.emit(f"push {sel:#x}", ".byte 0x17", "mov eax, SYS_GETPID",
                      "int 0x80")           # pop ss: its shadow, then a call
        elif how == 2:
            op = {"ds": "lds", "es": "les", "fs": "lfs", "gs": "lgs",
                  "ss": "lss"}[seg]
            self.emit(f"mov word ptr [ebp + {FAR + 4}], {sel:#x}",
                      f"{op} eax, [ebp + {FAR}]")
        else:
            probe = rng.choice(("lar eax, ebx", "lsl eax, ebx", "verr bx",
                                "verw bx"))
            self.emit(f"mov ebx, {sel:#x}", probe,
                      f"mov dword ptr [ebp + {rng.randrange(0, 4096, 4)}], eax")
            return
        if seg != "ss" and rng.random() < 0.5:
            self.emit(f"mov eax, dword ptr {seg}:[{rng.choice((0, 0x400000, 0xC0000000 + GDT_PA, 0xBFFFFFFC)):#x}]")
        if rng.random() < 0.7:
            self.emit("mov eax, 0x23", f"mov {seg}, ax")

    def system_state(self, i):
        op = self.rng.choice((
            ".byte 0x0f, 0x01, 0x05", ".byte 0x0f, 0x01, 0x0d",   # sgdt sidt
            ".byte 0x0f, 0x00, 0x05", ".byte 0x0f, 0x00, 0x0d",   # sldt str
            ".byte 0x0f, 0x01, 0x25"))                           # smsw
        self.emit(op, f".long data + {self.rng.randrange(0, 4090)}")

    # -- huge and overlapping buffers ---------------------------------------
    def buffer_call(self, i):
        rng = self.rng
        size, n = self.shm
        total = size * n
        a = SHMA + rng.choice((0, size - 1, size - 4096, size - 2, total - 4096,
                               total - 12, rng.randrange(total)))
        k = rng.randrange(6)
        if k == 0:
            length = rng.choice((total, total - (a - SHMA), size + 1, 4097,
                                 total - (a - SHMA) + 4096, 2 * size))
            self.syscall("SYS_WRITE", rng.choice((1, 2)), a, length)
        elif k == 1:
            self.emit("mov eax, SYS_GETPID", "int 0x80", "mov ebx, eax")
            self.syscall("SYS_SEND", None, a, rng.choice((4096, 16, 4095)))
        elif k == 2:
            self.syscall("SYS_RECV", a, rng.choice((4096, 100)),
                         rng.choice((0, a + 4096, SHMA + total - 2)),
                         only_if_queued=True)
        elif k == 3:
            self.emit(f"mov ebx, dword ptr [ebp + {SHMID}]")
            self.syscall("SYS_SHM_STAT", None, a)
        elif k == 4:
            self.syscall("SYS_WAIT", 0xFFFFFFFF, a)
        else:
            self.syscall("SYS_FUTEX_WAKE", a & ~3, 1)

    def syscall(self, name, b, c=None, d=None, only_if_queued=False):
        regs = (("ebx", b), ("ecx", c), ("edx", d))
        self.emit(*[f"mov {r}, {v & 0xFFFFFFFF:#x}" for r, v in regs
                    if v is not None])
        if only_if_queued:      # a recv that would block forever is boring:
            self.emit("push ebx", "push ecx", "push edx",   # send one first
                      "mov eax, SYS_GETPID", "int 0x80", "mov ebx, eax",
                      "lea ecx, [data]", "mov edx, 8", "mov eax, SYS_SEND",
                      "int 0x80", "pop edx", "pop ecx", "pop ebx")
        self.emit(f"mov eax, {name}", "int 0x80")

    def shm_prologue(self):
        size, n = self.shm
        self.emit("xor ebx, ebx", f"mov ecx, {size:#x}", "mov edx, 0x180",
                  "mov eax, SYS_SHM_CREATE", "int 0x80",
                  f"mov dword ptr [ebp + {SHMID}], eax")
        for j in range(n):
            self.emit(f"mov ebx, dword ptr [ebp + {SHMID}]",
                      f"mov ecx, {SHMA + j * size:#x}", "xor edx, edx",
                      "mov eax, SYS_SHM_ATTACH", "int 0x80")

    # -- code written, then run ---------------------------------------------
    def function(self, i, body):
        """A function at label f{i}, jumped over, with room after it for
        the 24 bytes shm_stat writes."""
        self.emit(f"jmp g{i}")
        self.lines.append(".align 16")
        self.label(f"f{i}")
        self.emit(*body, ".fill 32, 1, 0xcc")
        self.label(f"g{i}")

    def expect(self, i, value, status):
        self.emit(f"cmp eax, {value:#x}", f"je c{i}", f"mov ebx, {status:#x}",
                  "mov eax, SYS_EXIT", "int 0x80")
        self.label(f"c{i}")

    def code_by_recv(self, i):
        """A message holding code copied over a function after it ran;
        sent by the program itself, or by a helper while it sleeps in recv."""
        self.function(i, [f"mov eax, {OLD:#x}", "ret", "nop", "nop"])
        self.emit(f"call f{i}", "mov eax, SYS_GETPID", "int 0x80")
        if self.rng.random() < 0.5:
            self.emit("mov ebx, eax", f"lea ecx, [n{i}]", "mov edx, 6",
                      "mov eax, SYS_SEND", "int 0x80", f"jmp r{i}")
            self.label(f"n{i}")
            self.emit(f"mov eax, {NEW:#x}", "ret")
        else:
            self.emit("mov edx, eax", f"lea ebx, [s{i}]", "mov ecx, 9",
                      "mov eax, SYS_SPAWN", "int 0x80", "test eax, eax",
                      f"js c{i}", f"jmp r{i}")
            self.label(f"s{i}")
            self.emit('.ascii "hsendcode"')
        self.label(f"r{i}")
        self.emit(f"lea ebx, [f{i}]", "mov ecx, 6",
                  f"lea edx, [data + {FROM}]", "mov eax, SYS_RECV", "int 0x80",
                  "cmp eax, 6", f"jne c{i}")     # someone else's message
        self.emit(f"call f{i}")
        self.expect(i, NEW, 0x5EC0DE01)

    def code_by_wait(self, i):
        """A child's exit status (inc eax x3; nop) stored by wait over code."""
        self.function(i, ["nop", "nop", "nop", "nop", "ret"])
        self.emit("xor eax, eax", f"call f{i}", f"lea ebx, [s{i}]",
                  "mov ecx, 7", "mov edx, 0x90404040", "mov eax, SYS_SPAWN",
                  "int 0x80", f"jmp r{i}")
        self.label(f"s{i}")
        self.emit('.ascii "hexiter"')
        self.label(f"r{i}")
        self.emit("test eax, eax", f"js c{i}", "mov ebx, eax",
                  f"lea ecx, [f{i}]", "mov eax, SYS_WAIT", "int 0x80",
                  "test eax, eax", f"js c{i}", "xor eax, eax", f"call f{i}")
        self.expect(i, 3, 0x5EC0DE02)

    def code_by_shm_stat(self, i):
        """shm_stat's first word, the key (inc eax x2; ret), over code."""
        key = 0xC34040 | (self.rng.randrange(1, 256) << 24)
        self.function(i, ["nop", "nop", "nop", "nop", "ret"])
        self.emit("xor eax, eax", f"call f{i}", f"mov ebx, {key:#x}",
                  "mov ecx, 4096", "mov edx, 0x180", "mov eax, SYS_SHM_CREATE",
                  "int 0x80", "test eax, eax", f"js c{i}", "mov ebx, eax",
                  f"lea ecx, [f{i}]", "mov eax, SYS_SHM_STAT", "int 0x80",
                  "test eax, eax", f"jnz c{i}", f"call f{i}")
        self.expect(i, 2, 0x5EC0DE03)

    def code_by_peer(self, i):
        """A helper process writes new code into a segment both attach; the
        program ran the old code there first and waits for the helper."""
        key = SHM_KEY_BASE | (i << 12) | self.rng.randrange(4096)
        at = 0xA0000000 + (i << 16)
        self.emit(f"mov ebx, {key:#x}", "mov ecx, 4096", "mov edx, 0x180",
                  "mov eax, SYS_SHM_CREATE", "int 0x80", "test eax, eax",
                  f"js c{i}", "mov ebx, eax", f"mov ecx, {at:#x}",
                  "xor edx, edx", "mov eax, SYS_SHM_ATTACH", "int 0x80",
                  f"cmp eax, {at:#x}", f"jne c{i}",
                  "mov byte ptr [eax], 0xb8", f"mov dword ptr [eax + 1], {OLD:#x}",
                  "mov byte ptr [eax + 5], 0xc3", "call eax",
                  f"lea ebx, [s{i}]", "mov ecx, 9", f"mov edx, {key:#x}",
                  "mov eax, SYS_SPAWN", "int 0x80", f"jmp r{i}")
        self.label(f"s{i}")
        self.emit('.ascii "hshmcoder"')
        self.label(f"r{i}")
        self.emit("test eax, eax", f"js c{i}", "mov ebx, eax",
                  f"lea ecx, [data + {CHILD}]", "mov eax, SYS_WAIT",
                  "int 0x80", "test eax, eax", f"js c{i}",
                  f"cmp dword ptr [ebp + {CHILD}], 0", f"jne c{i}",
                  f"mov eax, {at:#x}", "call eax")
        self.expect(i, NEW, 0x5EC0DE04)

    def code_by_self(self, i):
        self.function(i, [f"mov eax, {OLD:#x}", "ret"])
        self.emit(f"call f{i}", f"mov dword ptr [f{i} + 1], {NEW:#x}",
                  f"call f{i}")
        self.expect(i, NEW, 0x5EC0DE05)

    MOVES = ("far_transfer", "segment_load", "system_state", "buffer_call",
             "code_by_recv", "code_by_wait", "code_by_shm_stat",
             "code_by_peer", "code_by_self")
    WEIGHTS = (30, 14, 3, 12, 3, 2, 2, 2, 1)

    def move(self, i):
        """One move at item i. Only moves go backwards (a far transfer may
        pop a stale frame, a ret a stale address), and any loop passes
        through the start of the move it came from again: the step guard
        there ends the program (STEP holds the last move started)."""
        self.emit(f"cmp dword ptr [ebp + {STEP}], {i}", "jge stop",
                  f"mov dword ptr [ebp + {STEP}], {i}")
        name = self.rng.choices(self.MOVES, self.WEIGHTS)[0]
        if name == "buffer_call" and not self.shm:
            name = "far_transfer"
        getattr(self, name)(i)


def shm_shape(rng):
    """(segment size, attachments) for a program's back-to-back buffer, or
    None: mostly small; now and then the 3 GiB of the review's finding 2."""
    if rng.random() < 0.6:
        return None
    if rng.random() < 0.002:
        return 64 << 20, 47
    size = rng.choice((4096, 8192, 65536, 1 << 20, 4 << 20))
    return size, rng.choice((1, 2, 3, 4, 8, 16))
