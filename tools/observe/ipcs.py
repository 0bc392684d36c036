"""The shared memory table as observers show it: each segment as the
--report JSON and the explorer hold it, and the ipcs-like table of --ipcs
and gdb's `monitor ipcs`."""

from emu.x86 import PAGE_SIZE


def page_text(size):
    """' 4M pages' for a large-page segment; '' for 4 KiB pages."""
    return f" {size >> 20}M pages" if size > PAGE_SIZE else ""


def describe(seg):
    """A segment as the --report JSON shows it."""
    return {"id": seg.id, "key": seg.key, "size": seg.size,
            "owner": seg.owner, "mode": seg.mode, "creator": seg.creator,
            "destroyed": seg.destroyed, "frames": seg.nframes,
            "page_size": seg.page_size,
            "attachments": [{"pid": a.pid, "addr": a.addr,
                             "readonly": a.readonly}
                            for a in seg.attachments]}


def ipcs_text(table):
    """An ipcs-like table of the segments still in the table."""
    lines = ["------ Shared Memory Segments ------",
             f"{'key':>10} {'shmid':>6} {'owner':>6} {'perms':>5} "
             f"{'bytes':>10} {'nattch':>6} {'frames':>6} {'cpid':>5} status"]
    for s in table.in_order():
        lines.append(f"{s.key:#010x} {s.id:>6} {s.owner:>6} {s.mode:>5o} "
                     f"{s.size:>10} {len(s.attachments):>6} "
                     f"{s.nframes:>6} {s.creator:>5} "
                     f"{'dest' if s.destroyed else ''}"
                     f"{page_text(s.page_size)}".rstrip())
    lines.append(f"{len(table.segments)} segment(s), {table.frames_in_use()} "
                 f"frame(s), {table.reserved} of {table.quota} pages reserved")
    return "\n".join(lines) + "\n"
