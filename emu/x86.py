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

Under PAE paging (CR4.PAE) the same address splits 2/9/9/12, and every
entry is 64 bits wide:

     31 30 29      21 20       12 11           0
    +-----+----------+-----------+--------------+
    |PDPTE|   PDX    |    PTX    |    offset    |
    +-----+----------+-----------+--------------+
       |       |           +--> index into the page table (512 entries)
       |       +--------------> index into the page directory (512 entries)
       +----------------------> one of four PDPTEs at CR3 (32-byte aligned)

A PAE PDE with PS maps a 2 MiB page; bit 63 of a PDE or PTE is NX (XD)
when EFER.NXE is on, and reserved otherwise. PagingMode below holds what
differs between the two modes, so the walker, the kernel's page-table code
and every dump read one object instead of testing "if pae".
"""

import enum
from dataclasses import dataclass, replace

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

PTE_NX = 1 << 63  # no-execute (PAE with EFER.NXE; reserved without it)
PAE_ADDR = 0x000FFFFFFFFFF000   # address field of a 64-bit entry
PHYS_BITS = 40                  # the emulated CPU's MAXPHYADDR
PDPTE_MUST_BE_ZERO = 0x1E6      # PDPTE bits 1, 2, 5..8: #GP at CR3 load

# Control register bits.
CR0_PE = 1 << 0
CR0_ET = 1 << 4      # extension type: hardwired to 1 since the i486
CR0_WP = 1 << 16
CR0_PG = 1 << 31
CR4_PSE = 1 << 4
CR4_PAE = 1 << 5
MSR_EFER = 0xC0000080
EFER_NXE = 1 << 11

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


class Vector(enum.IntEnum):
    """Interrupt vectors: the CPU's exceptions, each with its name in
    words (.text), and the system call gate."""

    def __new__(cls, value, text):
        vector = int.__new__(cls, value)
        vector._value_ = value
        vector.text = text
        return vector

    DIVIDE_ERROR = 0, "divide error"
    DEBUG = 1, "debug"
    BREAKPOINT = 3, "breakpoint"
    OVERFLOW = 4, "overflow"
    BOUND_RANGE = 5, "bound range"
    INVALID_OPCODE = 6, "invalid opcode"
    NO_MATH_COPROCESSOR = 7, "no math coprocessor"
    DOUBLE_FAULT = 8, "double fault"
    INVALID_TSS = 10, "invalid TSS"
    SEGMENT_NOT_PRESENT = 11, "segment not present"
    STACK_FAULT = 12, "stack fault"
    GENERAL_PROTECTION = 13, "general protection"
    PAGE_FAULT = 14, "page fault"
    X87_ERROR = 16, "x87 error"
    ALIGNMENT_CHECK = 17, "alignment check"
    SIMD_ERROR = 19, "SIMD error"
    SYSCALL = 0x80, "system call"


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
    in a PDE and PAT in a PTE; bit 63 is NX (64-bit entries only)."""
    names = ((PTE_P, "P"), (PTE_W, "W"), (PTE_U, "U"), (PTE_PWT, "PWT"),
             (PTE_PCD, "PCD"), (PTE_A, "A"), (PTE_D, "D"),
             (PTE_PS, "PAT" if pte else "PS"), (PTE_G, "G"),
             (PTE_COW, "COW"), (PTE_NX, "NX"))
    return " ".join(n for bit, n in names if e & bit) or "-"


@dataclass(frozen=True)
class PagingMode:
    """What one IA32 paging mode fixes, top level first (Linux-style
    folding: code loops over `levels` and never asks which mode it is in).

    levels: entry names from CR3 down; shifts: the linear-address bit each
    level's index starts at; bits: index width per level; entry_size: 4 or
    8 bytes; large_shift: the page size a PS leaf at the PDE maps; nx: the
    no-execute bit (0 when the mode has none); cr4/efer: what enables it."""
    name: str
    levels: tuple
    shifts: tuple
    bits: tuple
    entry_size: int
    large_shift: int
    nx: int
    cr4: int
    efer: int
    top_align: int        # CR3's table alignment (4096, or 32 for a PDPT)

    @property
    def large_size(self):
        return 1 << self.large_shift

    @property
    def large_pages(self):
        """4 KiB pages in one large page."""
        return self.large_size // PAGE_SIZE

    @property
    def entry_fmt(self):
        return "<I" if self.entry_size == 4 else "<Q"

    @property
    def addr_mask(self):
        """The address field of a table-pointing entry or a PTE."""
        return PTE_ADDR if self.entry_size == 4 else PAE_ADDR

    @property
    def pde_level(self):
        """Index of the PDE in `levels` (the only level with large pages)."""
        return self.levels.index("PDE")

    def nentries(self, level):
        return 1 << self.bits[level]

    def index(self, level, va):
        """The index va selects at level."""
        return (va >> self.shifts[level]) & ((1 << self.bits[level]) - 1)

    def span(self, level):
        """Bytes of linear address one entry at level covers."""
        return 1 << self.shifts[level]

    def top_table(self, cr3):
        """Physical address of the top-level table CR3 names."""
        return cr3 & ~(self.top_align - 1) & 0xFFFFFFFF

    def rsvd(self, level, large=False):
        """Entry bits that raise a reserved-bit #PF at this level (PAE:
        bits 62..MAXPHYADDR, and 63 (NX) without EFER.NXE or in a PDPTE; a
        2 MiB PDE's bits 13..20; a 4 MiB PDE's bit 21)."""
        if self.entry_size == 4:
            return PDE_LARGE_RSVD if large else 0
        out = PTE_NX - (1 << PHYS_BITS)
        if not self.nx or self.levels[level] == "PDPTE":
            out |= PTE_NX
        if large:
            out |= (self.large_size - 1) & PAE_ADDR & ~0x1000
        return out

    def rights(self, level):
        """True when this level's U/S and R/W bits take part (a PAE PDPTE's
        do not: those bits are reserved there)."""
        return self.levels[level] != "PDPTE"

    def large_pa(self, pde, va):
        """Physical address of va in the large page a PS PDE maps."""
        off = va & (self.large_size - 1)
        if self.entry_size == 8:
            return (pde & PAE_ADDR & ~(self.large_size - 1)) | off
        return (((pde & PDE_LARGE_HIGH) << 19) | (pde & PDE_LARGE_ADDR)
                | off)

    # -- the folded view the kernel uses: one flat array of PDEs ---------
    # Every directory's PDEs in a row: 1024 (one directory) or 2048 (four,
    # one per PDPTE). dirx(va) indexes that array; each PDE names one page
    # table of ptes_per_table entries, or is the leaf of a large page.
    @property
    def typecode(self):
        """array() typecode of one entry."""
        return "I" if self.entry_size == 4 else "Q"

    @property
    def entry_mask(self):
        return (1 << (8 * self.entry_size)) - 1

    @property
    def per_dir(self):
        """PDEs in one page directory."""
        return self.nentries(self.pde_level)

    @property
    def ndirs(self):
        """Page directories one address space has (one per top entry)."""
        return 1 << sum(self.bits[:self.pde_level])

    @property
    def ptes_per_table(self):
        return self.nentries(len(self.levels) - 1)

    def dirx(self, va):
        """Index of va's PDE in the flat array of every directory's PDEs."""
        return va >> self.large_shift

    def tabx(self, va):
        """Index of va's PTE in its page table."""
        return (va >> PAGE_SHIFT) & (self.ptes_per_table - 1)

    def page_va(self, d, j=0):
        """Linear address of PTE j of the table PDE d names."""
        return (d << self.large_shift) | (j << PAGE_SHIFT)

    def without_nx(self):
        """The same mode with EFER.NXE clear (bit 63 reserved)."""
        return replace(self, name=self.name + "-nonx", nx=0, efer=0)

    def va_split(self, va):
        """The indexes of va, top level first, then the page offset."""
        return tuple(self.index(i, va) for i in range(len(self.levels))) \
            + (va & (PAGE_SIZE - 1),)


PAGING_32 = PagingMode("32", ("PDE", "PTE"), (22, 12), (10, 10), 4, 22, 0,
                       CR4_PSE, 0, PAGE_SIZE)
PAGING_PAE = PagingMode("pae", ("PDPTE", "PDE", "PTE"), (30, 21, 12),
                        (2, 9, 9), 8, 21, PTE_NX, CR4_PSE | CR4_PAE,
                        EFER_NXE, 32)
PAGING_MODES = {m.name: m for m in (PAGING_32, PAGING_PAE)}


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
