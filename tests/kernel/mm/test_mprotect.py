"""mprotect (call 16), booted under both paging modes with the checker
after every call and fault: every error status and its precedence, no
access, read-only, write back, copy-on-write kept, execute (NX under PAE
only), untouched pages, fork, large-page attachments, the W^X demo."""

import pytest

from tests.kernel.proc.test_fork import balanced, boot_arg

PAGINGS = ("32", "pae")
FAULT = 256 + 14


@pytest.mark.parametrize("paging", PAGINGS)
def test_error_statuses_and_what_kernel_copies_see(paging):
    r = boot_arg("mprotect_rules", 0, paging=paging)
    assert r.statuses == [0, 3], r.stderr
    assert r.stdout == "A\nmprotect_rules: ok\n"
    balanced(r)


@pytest.mark.parametrize("paging", PAGINGS)
@pytest.mark.parametrize("case,error_code", [(1, 5), (2, 7), (6, 7)])
def test_a_touch_the_rights_deny_faults(paging, case, error_code):
    r = boot_arg("mprotect_rules", case, paging=paging)
    assert r.statuses == [FAULT]
    assert r.proc(1)["fault"]["error_code"] == error_code   # protection
    balanced(r)


@pytest.mark.parametrize("paging", PAGINGS)
def test_read_only_then_writable_again(paging):
    assert boot_arg("mprotect_rules", 3, paging=paging).statuses == [6]


@pytest.mark.parametrize("paging", PAGINGS)
def test_write_given_back_to_a_shared_page_stays_copy_on_write(paging):
    r = boot_arg("mprotect_rules", 4, paging=paging)
    assert r.statuses == [5, 9]          # the parent's word is its own
    assert r.stats["cow_copies"] >= 1
    balanced(r)


def test_execute_is_enforced_under_pae_only():
    assert boot_arg("mprotect_rules", 5, paging="32").statuses == [0]
    r = boot_arg("mprotect_rules", 5, paging="pae")
    assert r.statuses == [FAULT]
    assert r.proc(1)["fault"]["error_code"] == 0x15     # a fetch, NX


@pytest.mark.parametrize("paging", PAGINGS)
def test_rights_survive_fork(paging):
    r = boot_arg("mprotect_rules", 7, paging=paging)
    assert r.statuses == [FAULT, FAULT]
    assert r.proc(2)["fault"]["error_code"] == 7


@pytest.mark.parametrize("paging", PAGINGS)
def test_wx_demo_runs_the_code_it_wrote(run_userland, paging):
    r = run_userland("wx", paging=paging, cpus=2)
    assert r.statuses == [0, FAULT], r.stderr
    assert "returned 42" in r.stdout and "rewritten, it returns 7" in \
        r.stdout
    balanced(r)


@pytest.mark.parametrize("paging", PAGINGS)
def test_large_page_attachments_take_whole_large_pages(run_sources, paging):
    big = 4 << 20 if paging == "32" else 2 << 20
    r = run_sources({"big.s": f"""
        mov eax, SYS_SHM_CREATE; mov ebx, 0; mov ecx, {2 * big}
        mov edx, 0x980
        int 0x80
        mov ebx, eax
        mov eax, SYS_SHM_ATTACH; mov ecx, 0; mov edx, 0
        int 0x80
        mov esi, eax
        mov dword ptr [esi + {big}], 7
        mov eax, SYS_MPROTECT; mov ebx, esi; mov ecx, 4096; mov edx, 1
        int 0x80
        cmp eax, -22; jne bad                # -EINVAL
        mov eax, SYS_MPROTECT; lea ebx, [esi + {big}]; mov ecx, {big}
        mov edx, 1
        int 0x80
        cmp eax, 0; jne bad
        mov dword ptr [esi], 1               # the first page stays writable
        mov eax, dword ptr [esi + {big}]     # the second reads
        cmp eax, 7; jne bad
        mov dword ptr [esi + {big}], 1       # and faults on a write
    bad:
        mov ebx, 99
        mov eax, SYS_EXIT
        int 0x80
    """}, paging=paging)
    assert r.statuses == [FAULT], r.stderr
    assert r.proc(1)["fault"]["error_code"] == 7
