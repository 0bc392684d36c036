"""One access path to guest memory by virtual address.

access(aspace, va, n, intent, agent) answers "this agent accesses
[va, va+n) of this address space with this intent": the physical pieces
(pa, length), split at every 4 KiB boundary (so at every large-page
boundary too), each walked with user rights in aspace's own tables.
What a page that is not there yet becomes depends on the agent:

- Agent.KERNEL (the kernel acting for the process: copy-in, copy-out,
  futex keys) resolves demand-zero pages, a large page's first touch and
  copy-on-write exactly as the process's own access would, and raises
  UserFault where it may not: AddressSpace.chunks and pages, the loops
  copyin and copyout run on, are this agent's access and pieces.
- Agent.OBSERVER (the kernel decoding an instruction or a fault) resolves
  nothing: a page that is not present, or not allowed, ends the access
  with UserFault, as the MMU would fault.
- Agent.DEBUGGER changes nothing the process could observe for a read: a
  page nobody has touched reads as zeros (pa None) and takes no frame; a
  shared segment's page another attacher touched reads from the segment.
  A write, or a KEY (watchpoint), needs the frame: a shared segment's page
  is zero-filled in the segment, its large page whole, without mapping it
  for the process (whose own first touch still faults, as it would have); a
  private page faults in, or has its copy-on-write broken, as the
  process's own write would. It raises UserFault where the process may not
  access the address.

The MMU aside, every path that touches guest memory by virtual address
comes through here; look() is the same walk for displays, resolving
nothing. written_frames() names the frames a write's pieces store into,
for code coherence.
"""

import enum

from emu.walk import FETCH, READ, WRITE
from emu.x86 import PAGE_SIZE, PF_P
from kernel.mm.vm import NoMemory, RegionKind, UserFault

OFFSET = PAGE_SIZE - 1
SPACE_END = 1 << 32


class Intent(enum.Enum):
    """What the agent does with the bytes."""
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    KEY = "key"          # the frame behind a readable word: futex, watch

    @property
    def walk_access(self):
        """The access the MMU checks for this intent."""
        return _WALK[self]

    @classmethod
    def of(cls, kind):
        """The intent of a walker access (READ, WRITE, FETCH)."""
        return _OF_WALK[kind]


_WALK = {Intent.READ: READ, Intent.WRITE: WRITE, Intent.EXECUTE: FETCH,
         Intent.KEY: READ}
_OF_WALK = {READ: Intent.READ, WRITE: Intent.WRITE, FETCH: Intent.EXECUTE}


class Agent(enum.Enum):
    """Who accesses, which decides what a missing page becomes."""
    KERNEL = "kernel"
    OBSERVER = "observer"
    DEBUGGER = "debugger"


def access(aspace, va, n, intent, agent=Agent.KERNEL):
    """[(pa, length)] covering [va, va+n), all of it allowed, or UserFault
    having resolved only the pages before the one that faulted. pa is None
    for a debugger read of an untouched page (zeros). An empty range is
    always allowed."""
    if agent is Agent.KERNEL:                   # the hot path: copy-in/out
        _check_range(va, n)
        return aspace.chunks(va, n, intent.walk_access)
    return list(pieces(aspace, va, n, intent, agent))


def pieces(aspace, va, n, intent, agent=Agent.KERNEL):
    """access() one page at a time, as a generator: any length costs
    bounded host memory; UserFault at the first page not allowed."""
    _check_range(va, n)
    if agent is Agent.KERNEL:
        yield from aspace.pages(va, n, intent.walk_access)
        return
    resolve = _resolver(aspace, intent, agent)
    while n > 0:
        length = min(n, PAGE_SIZE - (va & OFFSET))
        yield resolve(va), length
        va, n = va + length, n - length


def look(aspace, va, intent=Intent.READ):
    """The walk the MMU makes for the process's own access to va with this
    intent (user rights), resolving nothing: what a translation display
    (`monitor walk`) shows."""
    return aspace.walk(va, intent.walk_access)


def written_frames(chunks):
    """The frames the pieces of an access store into, in order, once each
    (a piece never crosses a frame)."""
    return list(dict.fromkeys(pa & ~OFFSET for pa, _ in chunks
                              if pa is not None))


def _check_range(va, n):
    if va < 0 or n < 0 or (n and va + n > SPACE_END):
        raise UserFault(va, None)


def _resolver(aspace, intent, agent):
    """va -> pa for one page of an observer's or the debugger's access."""
    kind = intent.walk_access
    if agent is Agent.OBSERVER:
        return lambda va: _mapped(aspace, va, kind)
    return lambda va: _debugger(aspace, va, intent)


def _mapped(aspace, va, kind):
    w = aspace.walk(va, kind)
    if not w.ok:
        raise UserFault(va, w)
    return w.pa


def _debugger(aspace, va, intent):
    """One page as the debugger's access resolves it (module docstring)."""
    kind = intent.walk_access
    w = aspace.walk(va, kind)
    if w.ok:
        return w.pa
    if w.error_code & PF_P:                 # copy-on-write, or not allowed
        if kind != WRITE:
            raise UserFault(va, w)
        return aspace.translate(va, kind)
    r = aspace.region_at(va)
    if r is None or r.pager is None or (kind == WRITE and not r.writable):
        raise UserFault(va, w)
    if intent is Intent.READ or intent is Intent.EXECUTE:
        return touched_frame(r, va)
    if r.kind is RegionKind.SHM:
        return _segment_touch(aspace.vm, r, va)
    return aspace.translate(va, kind)   # UserFault when no frame is left


def _page_base(r, va):
    """The start of the region's (possibly large) page holding va."""
    return va - (va - r.start) % r.page_size


def touched_frame(r, va):
    """The physical address of va in a not-present page of region r when
    its segment already holds that page's data (another attacher touched
    it), else None (zeros to be). A large page counts as touched only once
    zero-filled: its reserved frames hold stale bytes until then."""
    if r.kind is not RegionKind.SHM:
        return None
    seg = r.obj
    if seg.zeroed is not None and not seg.zeroed[(va - r.start)
                                                 // r.page_size]:
        return None
    frame = seg.frames[(va - r.start) // PAGE_SIZE]
    return frame + (va & OFFSET) if frame else None


def _segment_touch(vm, r, va):
    """Have the segment zero-fill va's page (a large page whole) as a first
    touch would, keep none of the mapping's references (no entry is made),
    and return va's physical address in it."""
    base = _page_base(r, va)
    try:
        first = r.pager(r, base)
    except NoMemory:
        raise UserFault(va, None) from None
    if first is None:
        raise UserFault(va, None)
    vm.frames.decref_run(first, r.page_size // PAGE_SIZE)
    return first + (va - base)
