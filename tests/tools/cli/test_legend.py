"""--legend explains the notation the text outputs use."""

import re

import pytest

from emu.x86 import PAGING_MODES, pte_flags_str
from tools.observe.legend import FLAGS, legend, split


def test_every_flag_the_dumps_print_is_explained():
    names = set(pte_flags_str((1 << 64) - 1).split()) | \
        set(pte_flags_str((1 << 64) - 1, pte=True).split())
    explained = set(re.findall(r"^  ([A-Z]+)", FLAGS, re.M)) | \
        {"PWT", "PCD"}
    assert names <= explained, names - explained


@pytest.mark.parametrize("mode,first", [("32", "bits 31-22 pick the PDE"),
                                        ("pae", "bits 31-30 pick the PDPTE")])
def test_address_split_follows_the_paging_mode(mode, first):
    lines = split(PAGING_MODES[mode])
    assert lines[1].strip() == first
    assert "bits 11-0 are the offset" in lines[-2]


def test_legend_option_prints_after_the_run(ia32k, tmp_path):
    p = tmp_path / "ok.s"
    p.write_text("mov ebx, 0\nmov eax, SYS_EXIT\nint 0x80\n")
    cp = ia32k("run", "--legend", "--paging", "pae", str(p))
    assert cp.returncode == 0
    assert cp.stderr == legend(PAGING_MODES["pae"])
    assert "-xN" in cp.stderr and "COW" in cp.stderr
