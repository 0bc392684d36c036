"""The layers: nothing under kernel/ or emu/ imports tools/ (the tools
observe and drive the kernel; the kernel knows none of them)."""

import ast
import subprocess
import sys

from tests.conftest import ROOT


def modules(package):
    """The dotted names of every module under ROOT/package."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_importing_the_kernel_loads_no_tool():
    code = ("import importlib, sys\n"
            f"for m in {list(modules('kernel'))!r}:\n"
            "    importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m == 'tools' or m.startswith('tools.')))\n")
    cp = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "[]"


def imported(path):
    """The module names a file imports (absolute imports only)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_no_kernel_or_emu_file_imports_tools():
    bad = [f"{path.relative_to(ROOT)}: {name}"
           for package in ("kernel", "emu")
           for path in sorted((ROOT / package).rglob("*.py"))
           for name in imported(path)
           if name == "tools" or name.startswith("tools.")]
    assert bad == []
