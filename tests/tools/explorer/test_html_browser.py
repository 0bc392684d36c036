"""The --html page in a real headless browser (Debian's chromium, driven by
selenium): what a person opening it would see. One browser for the module,
always quit. The data itself: tests/test_html.py."""

import json
import os
import re
import subprocess
import sys

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from emu.walk import error_text
from tools.explorer.page import EVENT_FIELDS, page_html
from tools.explorer.browser import chromium, load

from tests.conftest import ROOT
DOCS = ROOT / "docs"
README_PNG = DOCS / "explorer.png"   # `make screenshot` refreshes it
LOAD_BUDGET_S = 10               # generous: 2 cores shared by many jobs
WALKS = ["1:0x40000000", "2:0x60000004", "2:0x60001000:write",
         "1:0x00400000:write", "2:0x00500000", "1:0xc0000000",
         "1:0x12345678", "2:0xbffffffc:write", "2:0xc0001000"]
NASTY_NAME = "x\"'<img src=x onerror=window.pwned=1>"
NASTY_TEXT = "</script><script>window.pwned=2</script><b>bold</b> & \"q'"


def ia32k(*args):
    """The real command line; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def browser():
    """A headless chromium for the whole module, quit whatever happens."""
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The shared-memory demo written as a page, with its --walk lines and
    its --dump-pt trace from the same run."""
    d = tmp_path_factory.mktemp("html")
    args = ["run", "--quantum", "100000", "--html", d / "shm.html",
            "--trace", d / "shm.jsonl", "--dump-pt"]
    for w in WALKS:
        args += ["--walk", w]
    r = ia32k(*args, "userland/demo/shmshare.c")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in (d / "shm.jsonl").read_text()
            .splitlines()]
    return d, recs


def open_page(browser, path):
    """Load path; return seconds until the page had drawn itself. Fails on
    any console error."""
    took, _, errors = load(browser, path)
    assert errors == []
    return took


def text(browser, id_):
    return browser.find_element(By.ID, id_).text


def test_every_process_and_the_shared_frame_with_both_addresses(browser,
                                                                  pages):
    d, recs = pages
    open_page(browser, d / "shm.html")
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert [c.get_attribute("data-pid") for c in cards] == ["1", "2"]
    # the kernel's frame map at the child's exit (--dump-pt, same run)
    fmap = next(r for r in recs if r["event"] == "frames"
                and r["when"] == "at exit of pid 2")
    shared = [r for r in fmap["runs"]       # the segment (program text is
              if {o["pid"] for o in r["owners"] if o["va"] is not None}
              == {1, 2} and all(o["what"].startswith("shm")   # shared too)
                                for o in r["owners"])]
    assert shared
    listing = text(browser, "shared-list")
    for run in shared:
        vas = {o["pid"]: o["va"] for o in run["owners"]}
        assert vas[1] != vas[2]
        assert (f"{run['pa']:#010x}: pid 1 @{vas[1]:#010x}, "
                f"pid 2 @{vas[2]:#010x}") in listing
    next(li for li in browser.find_elements(By.CSS_SELECTOR,
                                            "#shared-list li.shared")
         if f"@{0x40000000:#010x}" in li.text).click()
    owners = [e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                    "#frame-info .owner")]
    assert owners == [f"pid 1 shm 1 @{0x40000000:#010x}",
                      f"pid 2 shm 1 @{0x60000000:#010x}"]
    assert browser.find_elements(By.CSS_SELECTOR, "#lines path") == []
    browser.find_element(By.ID, "show-lines").click()   # asked for
    assert len(browser.find_elements(By.CSS_SELECTOR, "#lines path")) == 2


def walk_lines(stderr):
    """'PID:VA:ACCESS' -> the walk as `ia32k run --walk` printed it."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"walk\s+pid (\d+) (\w+) (0x[0-9a-f]+) \(.*?\): (.*)",
                     line)
        if m:
            out[(int(m[1]), int(m[3], 16), m[2])] = m[4]
    return out


def test_translate_walks_as_the_kernel_walked(browser, pages):
    d, _ = pages
    args = ["run", "--quantum", "100000"]
    for w in WALKS:
        args += ["--walk", w]
    kernel = walk_lines(ia32k(*args, "userland/demo/shmshare.c").stderr)
    assert len(kernel) == len(WALKS)
    assert any("#PF" in w for w in kernel.values())
    open_page(browser, d / "shm.html")
    browser.find_element(By.ID, "last").click()     # every process exited
    va_box = browser.find_element(By.ID, "tr-va")
    for (pid, va, access), expected in kernel.items():
        Select(browser.find_element(By.ID, "tr-pid")).select_by_value(
            str(pid))
        Select(browser.find_element(By.ID, "tr-access")).select_by_visible_text(
            access)
        va_box.clear()
        va_box.send_keys(hex(va))
        browser.find_element(By.ID, "tr-go").click()
        assert text(browser, "walk-line") == expected, (pid, hex(va), access)


def test_stepping_the_timeline_changes_what_is_shown(browser, pages):
    d, _ = pages
    open_page(browser, d / "shm.html")
    pd = "return document.querySelector('.card[data-pid=\"1\"] canvas')" \
         ".toDataURL()"
    at_exit = (text(browser, "event-now"), text(browser, "shared-list"),
               browser.execute_script(pd))
    assert "pid 1 @0x40000000, pid 2 @0x60000000" in text(browser, "shm")
    browser.find_element(By.ID, "first").click()
    assert text(browser, "shm").startswith("No shared memory segments")
    assert text(browser, "position").startswith("event 1 of")
    child = browser.find_element(By.CSS_SELECTOR, '.card[data-pid="2"]')
    assert "not yet created" in child.text
    first = (text(browser, "event-now"), text(browser, "shared-list"),
             browser.execute_script(pd))
    assert all(a != b for a, b in zip(at_exit, first))
    assert first[1].startswith("0 frames shared")
    browser.find_element(By.ID, "next").click()
    assert text(browser, "position").startswith("event 2 of")
    assert text(browser, "event-now") != first[0]


def shot_path(name, d):
    """Where a picture for the docs goes: docs/NAME with IA32K_SCREENSHOT=1
    (`make screenshot`), else the test's own directory d, so a test run
    leaves the tree as it was."""
    return DOCS / name if os.environ.get("IA32K_SCREENSHOT") else d / name


def test_screenshot_for_the_readme(browser, pages):
    """The docs' first picture: the page as it opens on the demo, the
    shared frame walked from both processes, at the child's exit."""
    d, _ = pages
    shot = shot_path(README_PNG.name, d)
    open_page(browser, d / "shm.html")
    assert "pid 2 @0x60000000" in text(browser, "sv-frame")
    browser.execute_script("window.scrollTo(0, 0)")
    shot.parent.mkdir(exist_ok=True)
    assert browser.find_element(By.ID, "shared-view").screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def after_frames(browser):
    """Let the page run its observers: resolve after two animation frames."""
    browser.execute_async_script(
        "const done = arguments[0];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done()))")


LOAD_MS = 3000                   # the aims are 1 s and 200 ms: generous
FILTER_MS = 600                  # bounds for a loaded shared machine


def overflowing(browser):
    """Elements sticking out of their parent (one that does not scroll)."""
    return browser.execute_script("""
        const bad = [];
        for (const e of document.querySelectorAll('main *')) {
          const par = e.parentElement, r = e.getBoundingClientRect();
          if (!r.width || !r.height) continue;
          const st = getComputedStyle(par);
          if (['auto', 'scroll', 'hidden'].includes(st.overflowX)) continue;
          const pr = par.getBoundingClientRect();
          if (r.right > pr.right + 1 || r.left < pr.left - 1)
            bad.push(e.tagName + '.' + e.className + ' in ' + par.tagName +
                     '.' + par.className + ': ' + r.right + ' > ' + pr.right);
        }
        if (document.documentElement.scrollWidth > innerWidth)
          bad.push('the page scrolls sideways');
        return bad.slice(0, 8);""")


def test_256_processes_load_and_filter_within_budget(browser, tmp_path):
    page = tmp_path / "many.html"
    r = ia32k("run", "--html", page, "userland/tests/html_many.c")
    assert r.returncode == 0, r.stderr
    assert open_page(browser, page) < LOAD_BUDGET_S
    took = float(browser.execute_script(
        "return document.body.dataset.doneAt"))
    print(f"256 processes: page loaded and drawn {took:.0f} ms after "
          "navigation")
    assert took <= LOAD_MS
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert 0 < len(cards) < 256                 # a list, not 256 cards
    assert text(browser, "proc-count").startswith(
        "256 of 256 processes match")
    size = browser.get_window_size()
    browser.set_window_size(1280, size["height"])
    try:
        after_frames(browser)
        assert overflowing(browser) == []       # the list fits 1,280 px
    finally:
        browser.set_window_size(size["width"], size["height"])
    browser.find_element(By.ID, "proc-filter").send_keys("256")
    after_frames(browser)
    [last] = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert last.get_attribute("data-pid") == "256"
    assert "page directory" in last.text and last.find_element(
        By.CSS_SELECTOR, ".state").text          # drawn once shown
    browser.find_element(By.ID, "f-pid").send_keys("200")
    ms = float(browser.execute_script("return document.body.dataset.filterMs"))
    print(f"256 processes: the timeline filter took {ms} ms")
    assert ms <= FILTER_MS
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR,
                                                  "#events tr")]
    events = browser.execute_script(
        "return D.events.filter(e => e[1] === 200).length")
    assert text(browser, "f-count").startswith(f"{events} of 2560 events")
    assert len(rows) == events > 0
    assert all(" pid 200 " in r for r in rows)


def test_a_64mib_segment_loads_within_budget(browser, tmp_path):
    page = tmp_path / "big.html"
    r = ia32k("run", "--html", page, "userland/tests/shm_64mib_test.c")
    assert r.returncode == 0, r.stderr
    assert open_page(browser, page) < LOAD_BUDGET_S
    rows = browser.execute_script(
        "return [...document.querySelectorAll('.card details tr')]"
        ".map(tr => [...tr.cells].map(c => c.textContent))")
    shm = [r for r in rows if r[3] == "shm 1"]
    assert [r[1] for r in shm] == ["16384", "16384"]   # two attachments,
    assert rows[-1][3] == "kernel"                     # each one range
    browser.find_element(By.ID, "last").click()
    browser.find_element(By.ID, "first").click()
    assert text(browser, "position").startswith("event 1 of")


def test_names_and_output_stay_text(browser, tmp_path):
    src = tmp_path / f"{NASTY_NAME}.s"
    data = ", ".join(str(b) for b in NASTY_TEXT.encode())
    src.write_text(f"""
        mov eax, SYS_WRITE
        mov ebx, 1
        lea ecx, [msg]
        mov edx, {len(NASTY_TEXT.encode())}
        int 0x80
        mov eax, SYS_EXIT
        xor ebx, ebx
        int 0x80
    msg: .byte {data}
    """)
    page = tmp_path / "nasty.html"
    r = ia32k("run", "--html", page, src)
    assert r.returncode == 0 and NASTY_TEXT in r.stdout, r.stderr
    open_page(browser, page)
    assert browser.title == f"ia32k: {NASTY_NAME}"
    assert text(browser, "title") == f"ia32k: {NASTY_NAME}"
    card = browser.find_element(By.CSS_SELECTOR, ".card")
    assert card.find_element(By.CSS_SELECTOR, ".name").text == NASTY_NAME
    assert card.find_element(By.CSS_SELECTOR, "pre").text == NASTY_TEXT
    assert browser.execute_script(
        "return [window.pwned, document.images.length,"
        " document.querySelectorAll('b').length]") == [None, 0, 0]


def three_level_data():
    """A page's data for a made-up 2|9|9|12 mode with 8-byte entries (PAE's
    shape: its PDPTEs carry no U/W): one process, one mapped page."""
    pf = {"P": 1, "W": 2, "U": 4, "RSVD": 8}
    levels = [{"name": "PDPTE", "bits": 2, "large": False, "rights": False,
               "table": "page-directory-pointer table"},
              {"name": "PDE", "bits": 9, "large": True,
               "table": "page directory"},
              {"name": "PTE", "bits": 9, "large": False,
               "table": "page table"}]
    nulls = [None] * 11
    return {
        "title": "three levels", "frames": [0x10000, 16 << 20],
        "mode": {"name": "PAE-shaped", "entry_bytes": 8, "offset_bits": 12,
                 "levels": levels, "addr_mask": 0xFFFFFFFFFF000,
                 "flag_mask": 0x1FF, "kernel_index": 3,
                 "bits": {"P": 1, "W": 2, "U": 4, "PS": 0x80}, "pf": pf,
                 "large": {"offset_bits": 21, "addr_mask": 0xFFFFFFFE00000,
                           "high_mask": 0, "high_shift": 0,
                           "rsvd_mask": 0x1FE000}},
        "event_fields": list(EVENT_FIELDS),
        "events": [["spawn", 1] + nulls, ["exit", 1] + nulls],
        "processes": [{"pid": 1, "name": "p", "uid": 0, "parent": 0,
                       "cr3": 0x20000, "spawn_event": 0, "exit_event": 1,
                       "status": 0, "fault": None, "output": "",
                       "ranges": [],
                       "tables": [[0x20000, [[0, 0x21001, 1, 0]]],
                                  [0x21000, [[2, 0x22007, 1, 0]]],
                                  [0x22000, [[5, 0x25007, 1, 0]]]]}],
        "backings": ["image p"], "walks": [],
        "kernel": {"top": [], "tables": []},
        "flags": {"PDPTE": {"1": "P"}, "PDE": {"7": "P W U", "0": "-"},
                  "PTE": {"7": "P W U", "0": "-"}},
        "segments": [], "messages": [],
        "fault_text": {c: error_text(c) for c in range(16)}}


def test_a_three_level_mode_renders_and_walks_from_its_data(browser,
                                                              tmp_path):
    page = tmp_path / "three.html"
    page.write_text(page_html(three_level_data()))
    open_page(browser, page)
    card = browser.find_element(By.CSS_SELECTOR, ".card")
    assert len(card.find_elements(By.TAG_NAME, "canvas")) == 3
    assert "(10|10|12)" not in text(browser, "summary")
    assert "(2|9|9|12)" in text(browser, "summary")
    va_box = browser.find_element(By.ID, "tr-va")
    lines = {}
    for va in (0x00405123, 0x00600000):
        va_box.clear()
        va_box.send_keys(hex(va))
        browser.find_element(By.ID, "tr-go").click()
        lines[va] = text(browser, "walk-line")
    assert lines[0x00405123] == (
        "CR3=0x00020000 → PDPTE[0]@0x00020000=0x0000000000021001(P) → "
        "PDE[2]@0x00021010=0x0000000000022007(P W U) → "
        "PTE[5]@0x00022028=0x0000000000025007(P W U) → PA 0x00025123")
    assert lines[0x00600000] == (
        "CR3=0x00020000 → PDPTE[0]@0x00020000=0x0000000000021001(P) → "
        "PDE[3]@0x00021018=0x0000000000000000(-) → "
        "#PF 0x4 (user, read, not present)")
