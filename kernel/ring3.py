"""What real IA32 does at ring 3 where Unicorn does otherwise.

Each function here takes what the emulated CPU reported and returns what
the SDM says the same program would see on hardware under a correct
kernel (docs/abi.md, "ring 3 sees the hardware's answer"):
- the stack accesses of a CPL-3 far call, far return and iret are user
  accesses (Unicorn makes them as supervisor accesses): a stack the user
  may not touch is a #PF with the U bit and CR2 at the first byte refused;
- an iret at CPL 3 ignores the popped VM and IOPL bits (Unicorn's helper
  enters virtual-8086 mode): the kernel performs that return itself;
- icebp is a #DB trap and rdpmc a #GP(0) (Unicorn raises #UD for both).
"""

from dataclasses import dataclass
from typing import Optional

from emu import x86
from emu.x86 import Vector
from emu.walk import READ, WRITE
from kernel.mm.access import Agent, Intent, look, pieces
from kernel.mm.vm import UserFault

PREFIXES = {0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65}
OPSIZE = 0x66
MAX_INSN = 15
ICEBP, RDPMC = b"\xf1", b"\x0f\x33"
# EFLAGS an iret at CPL 3 (> IOPL 0) may change, SDM vol. 2 IRET: the
# arithmetic flags, TF, DF, NT, and with a 32-bit operand RF, AC, ID.
IRET_MASK = 0x0DD5 | 0x4000 | 0x10000 | 0x40000 | 0x200000
EFLAGS_VM = 1 << 17
EFLAGS_NT = 1 << 14
USER_CODE = x86.selector(x86.SEG_UCODE, 3)


@dataclass
class Fault:
    """The exception hardware raises: vector, error code, CR2 (for #PF)."""
    vector: int
    error_code: Optional[int] = None
    cr2: Optional[int] = None


# An iret with EFLAGS.NT set is a task return to the TSS named by the
# current TSS's back link (SDM vol. 2, IRET). Unicorn makes it through a
# TSS at linear address 0 (this machine loads no TR); a correct kernel's
# TSS has back link 0, and a null selector is no busy TSS: #TS(0).
TASK_RETURN = Fault(Vector.INVALID_TSS, 0)


def fetch_bytes(aspace, eip, n=MAX_INSN):
    """Up to n instruction bytes at eip, as far as they are mapped and
    executable for the user (nothing is faulted in)."""
    out = bytearray()
    try:
        for pa, length in pieces(aspace, eip, n, Intent.EXECUTE,
                                 Agent.OBSERVER):
            out += aspace.vm.hw.read(pa, length)
    except UserFault:
        pass
    return bytes(out)


def opcode(code):
    """(opcode bytes after the prefixes, operand size in bytes)."""
    i = 0
    while i < len(code) and code[i] in PREFIXES:
        i += 1
    return code[i:], 2 if OPSIZE in code[:i] else 4


def stack_accesses(code, esp):
    """[(va, size, access)] of the implicit stack accesses of a far
    transfer, in the order the CPU makes them; [] for anything else."""
    op, s = opcode(code)
    if not op:
        return []
    if op[0] in (0xCB, 0xCA):                       # retf: EIP, CS
        return [(esp, s, READ), (esp + s, s, READ)]
    if op[0] == 0xCF:                               # iret: EIP, CS, EFLAGS
        return [(esp + i * s, s, READ) for i in range(3)]
    far_call = op[0] == 0x9A or (op[0] == 0xFF and len(op) > 1 and
                                 (op[1] >> 3) & 7 == 3 and op[1] >> 6 != 3)
    if far_call:                                    # push CS, then EIP
        return [(esp - s, s, WRITE), (esp - 2 * s, s, WRITE)]
    return []


def user_stack_fault(aspace, code, esp, protection_only=False):
    """The #PF hardware raises for a far transfer whose stack the user may
    not touch (first refused byte, user error code), or None. With
    protection_only, a not-present byte ends the search with None."""
    for va, size, access in stack_accesses(code, esp):
        for byte in (va, va + size - 1):
            w = look(aspace, byte & 0xFFFFFFFF, Intent.of(access))
            if w.ok:
                continue
            if protection_only and not w.error_code & x86.PF_P:
                return None
            return Fault(Vector.PAGE_FAULT, w.error_code, byte & 0xFFFFFFFF)
    return None


def is_string_io(code):
    """ins or outs: at CPL 3 with IOPL 0 a #GP(0) before any memory access
    (Unicorn makes the access first, so a bad buffer faults instead)."""
    op, _ = opcode(code)
    return op[:1] in (b"\x6c", b"\x6d", b"\x6e", b"\x6f")


def invalid_opcode_fault(code):
    """The fault for a #UD Unicorn raised: icebp is a #DB trap and rdpmc
    (CR4.PCE clear) a #GP(0) on hardware; anything else stays #UD."""
    op, _ = opcode(code)
    if op.startswith(ICEBP):
        return Fault(Vector.DEBUG)
    if op.startswith(RDPMC):
        return Fault(Vector.GENERAL_PROTECTION, 0)
    return Fault(Vector.INVALID_OPCODE)


def iret_frame(aspace, esp):
    """(EIP, CS, EFLAGS) an iretd at CPL 3 pops, read with user rights
    (demand-zero pages filled as the CPU's own access would), or the #PF
    hardware raises at the first byte refused."""
    out = []
    for i in range(3):
        va = (esp + 4 * i) & 0xFFFFFFFF
        try:
            out.append(int.from_bytes(aspace.copyin(va, 4), "little"))
        except UserFault as e:
            err = e.walk.error_code if e.walk else x86.PF_U
            return Fault(Vector.PAGE_FAULT, err, e.va)
    return tuple(out)


def protected_return(eflags_now, eip, cs, popped):
    """The protected-mode same-privilege return of an iretd at CPL 3 whose
    popped EFLAGS asks for VM (which the SDM ignores for CPL > 0): returns
    (new EIP, new EFLAGS) or the #GP the CS check raises."""
    if cs & 0xFFFC == 0:
        return Fault(Vector.GENERAL_PROTECTION, 0)
    if cs & 0xFFFF != USER_CODE:
        return Fault(Vector.GENERAL_PROTECTION, cs & 0xFFFC)
    flags = (eflags_now & ~IRET_MASK) | (popped & IRET_MASK)
    return eip, (flags | x86.FL_RESERVED) & ~EFLAGS_VM
