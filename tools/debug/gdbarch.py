"""gdb's view of the i386: the signal numbers it expects for each kind of
stop, and its register numbering and target description (the i386 core
feature, the x87 registers as at reset, then the control registers in a
feature of this machine's own). The stub translates the target's stops
and register names through this module only."""

from emu.x86 import Vector
from tools.debug.processes import CONTROL_REGS
from tools.debug.stops import Reason

SIGINT, SIGILL, SIGTRAP, SIGFPE, SIGSEGV = 2, 4, 5, 8, 11
FAULT_SIGNALS = {Vector.DIVIDE_ERROR: SIGFPE, Vector.DEBUG: SIGTRAP,
                 Vector.INVALID_OPCODE: SIGILL, Vector.X87_ERROR: SIGFPE,
                 Vector.SIMD_ERROR: SIGFPE}                 # else SIGSEGV
CORE_REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
             "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs")
X87_REGS = 8                  # st0..st7, 10 bytes each
FCTRL_AT_RESET = 0x37F
X87_CONTROL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg",
               "fooff", "fop")
NREGS = len(CORE_REGS) + X87_REGS + len(X87_CONTROL) + len(CONTROL_REGS)
FIRST_CR = len(CORE_REGS) + X87_REGS + len(X87_CONTROL)


def signal(stop):
    """The signal gdb is told a stop is: a fault's by its vector, SIGINT
    for an interrupt, SIGTRAP for every other stop."""
    if stop.reason is Reason.FAULT:
        return FAULT_SIGNALS.get(stop.vector, SIGSEGV)
    return SIGINT if stop.reason is Reason.INTERRUPT else SIGTRAP


def register_bytes(target, pid, n):
    """Register n of pid as gdb numbers it: the core set, then the x87 set
    (zero: no program here uses it), then the control registers."""
    x87 = len(CORE_REGS) + X87_REGS
    if n < len(CORE_REGS):
        value = target.read_register(pid, CORE_REGS[n])
    elif n < x87:
        return bytes(10)
    elif n < FIRST_CR:
        value = FCTRL_AT_RESET if n == x87 else 0
    elif n < NREGS:
        value = target.read_register(pid, CONTROL_REGS[n - FIRST_CR])
    else:
        raise ValueError(f"no register {n}")
    return value.to_bytes(4, "little")


def _reg_xml(names, bitsize, start, typ="int32", group=None):
    extra = f' group="{group}"' if group else ""
    return "".join(f'<reg name="{n}" bitsize="{bitsize}" type="{typ}" '
                   f'regnum="{start + i}"{extra}/>'
                   for i, n in enumerate(names))


TARGET_XML = (
    '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
    '<target version="1.0"><architecture>i386</architecture>'
    '<feature name="org.gnu.gdb.i386.core">'
    + _reg_xml(CORE_REGS[:4], 32, 0)
    + '<reg name="esp" bitsize="32" type="data_ptr" regnum="4"/>'
    '<reg name="ebp" bitsize="32" type="data_ptr" regnum="5"/>'
    + _reg_xml(CORE_REGS[6:8], 32, 6)
    + '<reg name="eip" bitsize="32" type="code_ptr" regnum="8"/>'
    '<reg name="eflags" bitsize="32" type="int32" regnum="9"/>'
    + _reg_xml(CORE_REGS[10:], 32, 10)
    + _reg_xml([f"st{i}" for i in range(8)], 80, 16, "i387_ext")
    + _reg_xml(X87_CONTROL, 32, 24, "int", "float")
    + '</feature><feature name="org.ia32k.control">'
    + _reg_xml(CONTROL_REGS, 32, FIRST_CR, "int32", "system")
    + '</feature></target>')
