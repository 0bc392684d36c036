"""The address map of docs/abi.md, and where the kernel keeps things in RAM."""

# Virtual: every process.
USER_IMAGE = 0x00400000          # flat images load here; ELF at p_vaddr
USER_LOW = 0x00001000            # page 0 is never mapped
SHM_BASE = 0x40000000            # kernel-chosen shm attachments
SHM_END = 0xB0000000
USTACK_BASE = 0xBFFF0000         # 64 KiB user stack, demand-zero
USTACK_TOP = 0xC0000000
KERNBASE = 0xC0000000            # kernel half: in user page directories
USER_END = KERNBASE              # only the GDT page (KPTI), supervisor-only

# Physical: low frames the kernel keeps for itself.
GDT_PA = 0x1000                  # the GDT
KPD_PA = 0x2000                  # the boot page directory (kernel half only)
SCRATCH_PA = (0x3000, 0x4000, 0x5000, 0x6000)   # calibration at boot
KPT_PA = 0x7000                  # the kernel half's one page table in user
                                 # directories: it maps the GDT page only
KPAE_PA = 0x8000                 # PAE boot PDPT, and at +0x1000 its kernel
#                                  page directory (the kernel half only)

FIRST_FREE_PA = 0x10000          # the frame allocator owns [this, RAM end)

DEFAULT_MEMORY = 128 << 20
MAX_SHM_BYTES = 64 << 20


def kva(pa):
    """Kernel virtual address of physical address pa."""
    return KERNBASE + pa
