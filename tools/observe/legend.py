"""What the text outputs' notation means (`--legend`): the memory maps
(--maps), the page walks of the text trace (--trace, --walk) and the
page-table and frame dumps (--dump-pt, monitor pt/frames)."""

from emu.x86 import PAGE_SIZE

FLAGS = """flags of a page-table entry (walks, page-table dumps):
  P    present: the entry maps something (else the access faults)
  W    writable (else read-only for the user; a write faults)
  U    user: ring 3 may use it (else kernel only)
  PWT PCD  write-through / cache-disable (not used by ia32k)
  A    accessed: the CPU set it when it used the entry
  D    dirty: the CPU set it when it wrote through the entry (leaves)
  PS   page size, in a directory entry: it maps a large page itself
  PAT  the same bit in a PTE: page attribute table (not used by ia32k)
  G    global (not used by ia32k)
  COW  copy-on-write (a bit the CPU ignores, kept by the kernel): the
       page is shared read-only until a write copies it
  NX   no-execute (PAE only): an instruction fetch faults
  -    no flag set"""

MAPS = """--maps (one line per region, like /proc/PID/maps):
  START-END  the region's virtual range (END excluded)
  rwxp       read, write, execute (32-bit paging cannot forbid execute),
             p private or s shared (a shared-memory segment)
  image NAME / stack / shm ID   what backs the region
  frames     each page's physical frame, in order: a frame, a run
             A-B of consecutive frames, '(cow)' after frames still
             shared copy-on-write, '-' a page not present yet (demand
             zero: it gets a frame at its first touch), '-xN' N such
             pages in a row"""

DUMPS = """--dump-pt and monitor pt: consecutive pages with the same flags and
backing merged into one range: its pages, its flags (above), what backs
it and its frames. The frame map lists every physical frame a live page
table names: refs (how many entries name it) and who: a page directory
or table of a pid, or a page of a region at its virtual address."""


def split(mode):
    """How a virtual address divides into table indices and offset, one
    line each."""
    lines, top = [f"an address, in {mode.name} paging:"], 32
    for name, shift in zip(mode.levels, mode.shifts):
        lines.append(f"  bits {top - 1}-{shift} pick the {name}")
        top = shift
    lines.append(f"  bits {top - 1}-0 are the offset in the "
                 f"{PAGE_SIZE >> 10} KiB page")
    lines.append(f"  (a PS entry's large page: bits {mode.large_shift - 1}"
                 f"-0, {(1 << mode.large_shift) >> 20} MiB)")
    return lines


def walk(mode):
    return f"""page walks (text trace, --walk, monitor walk):
  CR3=A              the physical address of the top table
  NAME[i]@A=V(FLAGS) entry i of that table, at physical address A, holding
                     V; its flags decoded
  PA A               the physical address the access reaches
  #PF E (...)        the access faults with error code E
  {chr(10).join("  " + ln for ln in split(mode)).lstrip()}
  map / unmap / fault / walk / exit lead each trace line: what happened"""


def legend(mode):
    """The whole legend, for a machine in paging mode `mode`."""
    return "\n\n".join((MAPS, walk(mode), DUMPS, FLAGS)) + "\n"
