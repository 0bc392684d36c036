"""The observer protocol (kernel/events.py): attach and detach, typos
refused, events seen in order, core clean-up with nobody observing, and
every declared event emitted somewhere in kernel/ (and only those)."""

import ast
import io
import re

import pytest

from kernel.events import EVENTS, Hooks, Trap, UnknownEvent
from kernel.kernel import Console, Kernel
from tests.conftest import ROOT
from tools.toolchain.programs import Programs

# The parent creates a segment, touches it and spawns a child that attaches
# it too; both exit still attached (the parent destroys it first).
FAMILY = """
    cmp eax, 0
    jne child
    mov eax, SYS_SHM_CREATE
    mov ebx, 0x4545
    mov ecx, 4096
    mov edx, 0x180
    int 0x80
    mov esi, eax
    mov eax, SYS_SHM_ATTACH
    mov ebx, esi
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov dword ptr [eax], 1
    mov eax, SYS_SPAWN
    lea ebx, [name]
    mov ecx, 6
    mov edx, 1
    int 0x80
    mov ebx, eax
    mov eax, SYS_WAIT
    mov ecx, 0
    int 0x80
    mov eax, SYS_SHM_DESTROY
    mov ebx, esi
    int 0x80
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
child:
    mov eax, SYS_SHM_LOOKUP
    mov ebx, 0x4545
    int 0x80
    mov ebx, eax
    mov eax, SYS_SHM_ATTACH
    mov ecx, 0
    mov edx, 0
    int 0x80
    mov dword ptr [eax], 2
    mov eax, SYS_EXIT
    mov ebx, 0
    int 0x80
name: .ascii "family"
"""


class Recorder:
    """Records the lifecycle events it sees, with the pids involved."""

    def __init__(self):
        self.seen = []

    def on_spawn(self, parent, child):
        self.seen.append(("spawn", parent and parent.pid, child.pid))

    def on_shm_attach(self, p, seg, addr):
        self.seen.append(("shm_attach", p.pid))

    def on_wait(self, parent, child):
        self.seen.append(("wait", parent.pid, child.pid))

    def on_exit(self, p):
        self.seen.append(("exit", p.pid))

    def on_shm_free(self, seg):
        self.seen.append(("shm_free",))

    def on_run_end(self):
        self.seen.append(("run_end",))


def kernel(tmp_path):
    (tmp_path / "family.s").write_text(FAMILY)
    progs = Programs()
    progs.add(tmp_path / "family.s")
    return Kernel(progs, console=Console(io.BytesIO(), io.BytesIO()))


def test_attach_and_detach_rebuild_the_handlers(tmp_path):
    k, rec = kernel(tmp_path), Recorder()
    assert k.hooks.spawn == () and k.hooks.exit == ()
    assert k.attach(rec) is rec and k.observer(Recorder) is rec
    assert k.hooks.spawn == (rec.on_spawn,) and k.hooks.exit == (rec.on_exit,)
    assert k.hooks.send == ()
    k.detach(rec)
    assert k.hooks.spawn == () and k.observer(Recorder) is None


def test_a_misspelt_handler_is_refused(tmp_path):
    class Typo:
        def on_spwan(self, parent, child):
            pass
    k = kernel(tmp_path)
    with pytest.raises(UnknownEvent, match="on_spwan"):
        k.attach(Typo())
    assert k.observers == [] and k.hooks.spawn == ()


def test_an_observer_sees_the_lifecycle_in_order(tmp_path):
    k = kernel(tmp_path)
    rec = k.attach(Recorder())
    k.boot(["family"])
    k.run()
    assert [p.status for p in k.procs] == [0, 0]
    assert rec.seen == [("spawn", None, 1), ("shm_attach", 1),
                        ("spawn", 1, 2), ("shm_attach", 2), ("exit", 2),
                        ("wait", 1, 2), ("exit", 1), ("shm_free",),
                        ("run_end",)]


def test_observing_the_traps_installs_and_removes_the_wrappers(tmp_path):
    k = kernel(tmp_path)
    plain = k.hw.cpus[0].on_interrupt

    class Traps:
        def __init__(self):
            self.seen = []

        def on_trap_end(self, what):
            self.seen.append(what)
    t = k.attach(Traps())
    assert k.hw.cpus[0].on_interrupt is not plain
    k.boot(["family"])
    k.run()
    assert Trap("spawn", None, 1) in t.seen
    assert str(Trap("spawn", None, 1)) == "syscall spawn by pid 1"
    k.detach(t)
    assert k.hw.cpus[0].on_interrupt.__name__ != "observed"


def test_clean_up_needs_no_observer(tmp_path):
    """The segment is freed when its last attacher exits, with nobody
    attached to the kernel."""
    k = kernel(tmp_path)
    k.boot(["family"])
    k.run()
    assert k.observers == []
    assert [p.status for p in k.procs] == [0, 0]
    assert k.shm.segments == {}
    assert k.frames.nfree == k.stats.frames_free_at_boot


def emitted_in_kernel():
    """Every event name kernel/ emits: notify("name", ...) calls and
    hooks.name tests."""
    names = set()
    for path in (ROOT / "kernel").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(
                    node.func, "attr", None) == "notify" and node.args and \
                    isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
            if isinstance(node, ast.Attribute) and isinstance(
                    node.value, ast.Attribute) and node.value.attr == "hooks" \
                    and not callable(getattr(Hooks, node.attr, None)):
                names.add(node.attr)
    return names


def test_every_event_is_declared_and_emitted():
    emitted = emitted_in_kernel()
    assert emitted - set(EVENTS) == set()
    assert set(EVENTS) - emitted == set()


def test_every_event_is_documented():
    for name, (args, meaning) in EVENTS.items():
        assert re.fullmatch(r"(\w+(, \w+)*)?", args), name
        assert meaning, name
