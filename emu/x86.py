"""IA32 hardware names from the Intel SDM, and pure helpers over them.

A 32-bit linear address under non-PAE paging splits 10/10/12:

     31          22 21          12 11           0
    +--------------+--------------+--------------+
    |  PDX (dir)   |  PTX (table) |    offset    |
    +--------------+--------------+--------------+
          |              |
          |              +--> index into the page table the PDE names
          +-----------------> index into the page directory CR3 names

A PDE with PS set (and CR4.PSE on) maps a 4 MiB page directly: bits 31..22
are the frame, bits 21..0 the offset.
"""

PAGE_SIZE = 4096
PAGE_SHIFT = 12
LARGE_PAGE_SIZE = 4 << 20
NPDENTRIES = 1024
NPTENTRIES = 1024

# Page directory / page table entry bits (SDM vol. 3, 4.3).
PTE_P = 0x001    # present
PTE_W = 0x002    # read/write
PTE_U = 0x004    # user/supervisor
PTE_PWT = 0x008
PTE_PCD = 0x010
PTE_A = 0x020    # accessed (set by the MMU)
PTE_D = 0x040    # dirty (set by the MMU, PTEs and 4 MiB PDEs only)
PTE_PS = 0x080   # page size (PDE only: 4 MiB page)
PTE_G = 0x100
PTE_COW = 0x200  # bit 9: ignored by the MMU (AVL); ia32k's copy-on-write mark
PTE_ADDR = 0xFFFFF000
PDE_LARGE_ADDR = 0xFFC00000
PDE_LARGE_HIGH = 0x001FE000   # 4 MiB PDE bits 20..13: physical bits 39..32
PDE_LARGE_RSVD = 0x00200000   # 4 MiB PDE bit 21: reserved, must be 0

# Control register bits.
CR0_PE = 1 << 0
CR0_ET = 1 << 4      # extension type: hardwired to 1 since the i486
CR0_WP = 1 << 16
CR0_PG = 1 << 31
CR4_PSE = 1 << 4

# Page-fault error code bits (SDM vol. 3, 4.7).
PF_P = 0x1       # 0: not present, 1: protection violation
PF_W = 0x2       # the access was a write
PF_U = 0x4       # the access came from CPL 3
PF_RSVD = 0x8    # a reserved bit was set in an entry
PF_I = 0x10      # an instruction fetch (only with NX or SMEP; never here)

# EFLAGS.
FL_IF = 0x200
FL_RESERVED = 0x2
FL_USER_INIT = FL_IF | FL_RESERVED

# Exception vectors.
T_DIVIDE = 0
T_DEBUG = 1
T_BRKPT = 3
T_OFLOW = 4
T_ILLOP = 6
T_DBLFLT = 8
T_GPFLT = 13
T_PGFLT = 14
T_SYSCALL = 0x80

# Segment selectors: index << 3 | TI | RPL.
SEG_KCODE = 1
SEG_KDATA = 2
SEG_UCODE = 3
SEG_UDATA = 4
DPL_USER = 3


def selector(index, rpl=0):
    """Return the segment selector for GDT slot index at privilege rpl."""
    return (index << 3) | rpl


def pdx(va):
    """Page directory index of linear address va."""
    return (va >> 22) & 0x3FF


def ptx(va):
    """Page table index of linear address va."""
    return (va >> 12) & 0x3FF


def pgaddr(pdx_, ptx_, off=0):
    """Linear address made from a directory index, table index and offset."""
    return (pdx_ << 22) | (ptx_ << 12) | off


def pgrounddown(a):
    return a & ~(PAGE_SIZE - 1)


def pgroundup(a):
    return (a + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def pte_flags_str(e, pte=False):
    """Decode an entry's flag bits as text, e.g. 'P W U A D'. Bit 7 is PS
    in a PDE and PAT in a PTE."""
    names = ((PTE_P, "P"), (PTE_W, "W"), (PTE_U, "U"), (PTE_PWT, "PWT"),
             (PTE_PCD, "PCD"), (PTE_A, "A"), (PTE_D, "D"),
             (PTE_PS, "PAT" if pte else "PS"), (PTE_G, "G"),
             (PTE_COW, "COW"))
    return " ".join(n for bit, n in names if e & bit) or "-"


def gdt_entry(base, limit, access, flags):
    """Encode one 8-byte segment descriptor (SDM vol. 3, 3.4.5)."""
    return ((limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (access << 40)
            | (((limit >> 16) & 0xF) << 48) | (flags << 52)
            | (((base >> 24) & 0xFF) << 56))


def flat_segment(dpl, code):
    """A flat 4 GiB 32-bit segment descriptor of privilege dpl, with its
    accessed bit preset so the CPU never writes the (read-only) GDT."""
    access = 0x80 | (dpl << 5) | 0x10 | (0x0B if code else 0x03)
    return gdt_entry(0, 0xFFFFF, access, 0xC)


def pf_error_code(present, write, user, fetch=False):
    """IA32 page-fault error code for an access of the given kind. Pass
    fetch only where I/D is reported (NX or SMEP on; SDM vol. 3, 4.7)."""
    return ((PF_P if present else 0) | (PF_W if write else 0)
            | (PF_U if user else 0) | (PF_I if fetch else 0))
