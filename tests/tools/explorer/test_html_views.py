"""The --html page's views in headless chromium: the drawn walk (held to
`ia32k run --walk`), two walks ending in one shared frame, flags under PAE,
the timeline's filter, the comparison of two moments, the layout at
1,280 px. One browser for the module, always quit."""

import json
import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tools.explorer.browser import chromium, load
from tests.tools.explorer.test_html_browser import (WALKS, after_frames,
                                                    ia32k, overflowing,
                                                    shot_path, walk_lines)

HUGE = """#include "ia32k.h"

int main(int arg)
{
    int id = shm_create(0, 4 << 20, 0600 | 04000);   /* SHM_HUGETLB */
    CHECK(id >= 0);
    volatile u32 *p = shm_attach(id, 0, 0);
    p[0] = 1;
    p[(4 << 20) / 4 - 1] = 2;
    return 0;
}
"""
HUGE_WALKS = ["1:0x40000004", "1:0x403ffffc:write", "1:0x403ffffc:fetch",
              "1:0x40400000", "1:0x00400000"]


@pytest.fixture(scope="module")
def browser():
    with chromium(1280, 2400) as driver:
        yield driver


def write_page(d, name, program, walks=(), *args):
    """Run program with --html (and --walk each of walks); return the
    page's path and the walks as the run printed them."""
    page = d / f"{name}.html"
    argv = ["run", "--quantum", "100000", "--html", page, *args]
    for w in walks:
        argv += ["--walk", w]
    r = ia32k(*argv, program)
    assert r.returncode == 0, r.stderr
    lines = walk_lines(r.stderr)
    assert len(lines) == len(walks)
    return page, lines


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    d = tmp_path_factory.mktemp("views")
    huge = d / "huge.c"
    huge.write_text(HUGE)
    out = {}
    for mode in ("32", "pae"):
        out["shm", mode] = write_page(d, f"shm{mode}", "userland/demo/"
                                      "shmshare.c", WALKS, "--paging", mode)
        out["huge", mode] = write_page(d, f"huge{mode}", huge, HUGE_WALKS,
                                       "--paging", mode)
    page, _ = write_page(d, "cow", "userland/demo/cow.c", (), "--trace",
                         d / "cow.jsonl", "--trace-format", "jsonl")
    out["cow"] = page, [json.loads(line) for line in
                        (d / "cow.jsonl").read_text().splitlines()]
    return out


def open_page(browser, path):
    _, _, errors = load(browser, path)
    assert errors == []


def text(browser, id_):
    return browser.find_element(By.ID, id_).text


def drawn_walk(browser, pid, va, access, typed=None):
    """Walk va in the translate box; return the drawn boxes' texts joined
    as `--walk` joins its parts."""
    Select(browser.find_element(By.ID, "tr-pid")).select_by_value(str(pid))
    Select(browser.find_element(By.ID, "tr-access")).select_by_visible_text(
        access)
    box = browser.find_element(By.ID, "tr-va")
    box.clear()
    box.send_keys(typed or hex(va))
    browser.find_element(By.ID, "tr-go").click()
    return browser.execute_script(
        "return [...document.querySelectorAll('#walk-drawn .part')]"
        ".map(e => e.textContent).join(' → ')")


@pytest.mark.parametrize("mode", ["32", "pae"])
@pytest.mark.parametrize("program", ["shm", "huge"])
def test_the_drawn_walk_is_the_kernels_walk(browser, pages, mode, program):
    page, kernel = pages[program, mode]
    assert any("#PF" in w for w in kernel.values())
    open_page(browser, page)
    browser.find_element(By.ID, "last").click()     # every process exited
    for (pid, va, access), expected in kernel.items():
        assert drawn_walk(browser, pid, va, access) == expected, \
            (pid, hex(va), access)
        assert text(browser, "walk-line") == expected


def test_a_large_page_splits_the_address_in_its_own_form(browser, pages):
    for mode, fields in (("32", ["PDE index, 10 bits", "offset, 22 bits"]),
                         ("pae", ["PDPTE index, 2 bits", "PDE index, 9 bits",
                                  "offset, 21 bits"])):
        open_page(browser, pages["huge", mode][0])
        browser.find_element(By.ID, "last").click()
        drawn_walk(browser, 1, 0x40000004, "read")
        got = [e.text for e in browser.find_elements(
            By.CSS_SELECTOR, "#walk-drawn .field small")]
        assert got == fields
        assert "MiB page at" in text(browser, "walk-drawn")


def test_the_address_box_reads_hex_and_says_so(browser, pages):
    page, kernel = pages["shm", "32"]
    open_page(browser, page)
    browser.find_element(By.ID, "last").click()
    line = drawn_walk(browser, 2, 0x60000004, "read", typed="60000004")
    assert line == kernel[2, 0x60000004, "read"]
    assert "0x60000004 (read as hex)" in text(browser, "tr-out")


def test_the_walk_steps_one_level_per_click(browser, pages):
    open_page(browser, pages["shm", "pae"][0])
    drawn_walk(browser, 1, 0x40000000, "read")
    shown = ("return [...document.querySelectorAll('#walk-drawn .wbox')]"
             ".filter(b => !b.classList.contains('later')).length")
    assert browser.execute_script(shown) == 5      # CR3, 3 levels, the PA
    browser.find_element(By.ID, "walk-restart").click()
    counts = [browser.execute_script(shown)]
    for _ in range(5):
        browser.find_element(By.ID, "walk-step").click()
        counts.append(browser.execute_script(shown))
    assert counts == [1, 2, 3, 4, 5, 5]


def test_the_page_opens_on_a_shared_frame_walked_from_both_sides(browser,
                                                                  pages):
    page, kernel = pages["shm", "32"]
    open_page(browser, page)
    mappers = browser.find_elements(By.CSS_SELECTOR, "#sv-walks .mapper")
    heads = [m.find_element(By.CSS_SELECTOR, ".title").text for m in mappers]
    assert heads == ["pid 1 (shmshare) reads 0x40000000 (shm 1)",
                     "pid 2 (shmshare) reads 0x60000000 (shm 1)"]
    # the child exits at the opening moment: its walk is --walk's to the PA
    child = mappers[1].find_element(By.CSS_SELECTOR, ".walk")
    pa = kernel[2, 0x60000004, "read"].rsplit("PA ", 1)[1]
    assert kernel[2, 0x60000004, "read"].startswith(
        child.get_attribute("data-line").rsplit(" → PA", 1)[0])
    frame = f"{int(pa, 16) & ~0xFFF:#010x}"
    for m in mappers:                            # both end in that frame
        leaf = m.find_elements(By.CSS_SELECTOR, ".wbox")[-1].text
        assert f"the frame at {frame}" in leaf
    same = text(browser, "sv-frame")
    assert same.startswith(f"frame {frame}")
    assert "pid 1 @0x40000000, pid 2 @0x60000000" in same
    assert "shm" in Select(browser.find_element(
        By.ID, "sv-pick")).first_selected_option.text


def test_an_entry_jumps_to_the_event_that_wrote_it(browser, pages):
    open_page(browser, pages["shm", "32"][0])
    child = browser.find_elements(By.CSS_SELECTOR, "#sv-walks .mapper")[1]
    jump = child.find_element(By.CSS_SELECTOR, ".jump")
    n = int(jump.text.split()[1])
    jump.click()
    assert text(browser, "position").startswith(f"event {n} of")
    now = text(browser, "event-now")
    assert "pid 2" in now and "0x60000000" in now


def every_moments_text(browser):
    """The page's text at every event, the kernel's walks included."""
    return browser.execute_script(
        "let s = ''; for (let i = 0; i < N; i++) { setPosition(i);"
        " s += document.body.innerText; } return s")


@pytest.mark.parametrize("name", [("shm", "pae"), ("huge", "pae"),
                                  ("shm", "32")])
def test_every_flag_is_decoded(browser, pages, name):
    open_page(browser, pages[name][0])
    undecoded = browser.execute_script(
        "const bad = [];"
        "for (const e of D.events) for (const lv of [e[F.levels],"
        " e[F.resolved]]) (lv || []).forEach(([, , v], k) => {"
        "  if (flagsText(M.levels[k].name, v) === '?') bad.push(v); });"
        "for (const p of PROCS) for (const l of leavesAt(p.exit_event ?? 0)"
        "  .values()) if (flagsText(l.level, l.value) === '?')"
        "  bad.push(String(l.value));"
        "return bad")
    assert undecoded == []
    seen = every_moments_text(browser)
    assert re.search(r"\(P[ )]", seen)           # flags were shown
    assert "flags ?" not in seen and "(?)" not in seen
    if name[1] == "pae":
        assert "NX" in seen


@pytest.mark.parametrize("name", [("shm", "32"), ("shm", "pae"),
                                  ("huge", "pae")])
def test_nothing_is_wider_than_its_card_at_1280_px(browser, pages, name):
    assert browser.execute_script("return innerWidth") <= 1280
    open_page(browser, pages[name][0])
    drawn_walk(browser, 1, 0x40000004, "write")
    browser.find_element(By.ID, "cmp-go").click()
    for card in browser.find_elements(By.CSS_SELECTOR, ".card"):
        card.find_element(By.TAG_NAME, "summary").click()
        grids = card.find_elements(By.TAG_NAME, "canvas")
        grids[0].click()                  # opens an entry: the next grid
    after_frames(browser)
    assert overflowing(browser) == []
    caption = text(browser, "cards-caption")
    assert ("32×32" in caption) == (name[1] == "32")


def rows(browser, css):
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, css)]


def test_the_timeline_filters_by_kind_pid_and_address(browser, pages):
    page, recs = pages["cow"]
    open_page(browser, page)
    kinds = [o.text for o in Select(browser.find_element(
        By.ID, "f-kind")).options]
    assert {"fault", "map", "unmap", "fork", "exit"} <= set(kinds)
    spawned = browser.execute_script(   # only the first process is not
        "return D.events.filter(e => e[0] === 'spawn').map(e => e[1])")
    assert spawned == [1]                          # forked
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("fault")
    faults = [r for r in recs if r["event"] == "fault"]
    got = rows(browser, "#events tr")
    assert len(got) == len(faults) > 0
    assert all(r[1].startswith("fault pid") for r in got)
    browser.find_element(By.ID, "f-pid").send_keys("2")
    got = rows(browser, "#events tr")
    assert len(got) == len([r for r in faults if r["pid"] == 2]) > 0
    assert all(r[1].startswith("fault pid 2 ") for r in got)
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("")
    browser.find_element(By.ID, "f-pid").clear()
    browser.find_element(By.ID, "f-va").send_keys("403abc")     # hex
    got = rows(browser, "#events tr")
    page_recs = [r for r in recs if r["va"] >> 12 == 0x403 and
                 r["event"] != "walk"]
    parents = [r for r in page_recs if r["event"] == "fork"]   # + the
    assert len(got) == len(page_recs) + len(parents)   # parent's entries
    assert all("0x00403000" in r[1] for r in got)


def test_a_fork_is_named_fork_and_output_follows_the_timeline(browser,
                                                               pages):
    page, _ = pages["cow"]
    open_page(browser, page)
    described = browser.execute_script(
        "return D.events.map(describeEvent).filter(s => s.includes("
        "', child of') || s.includes('at boot'))")
    assert described == ["spawn pid 1 (cow), started at boot",
                         "fork  pid 2 (cow), child of pid 1",
                         "fork  pid 3 (cow), child of pid 1"]
    output = "return document.querySelector('.card[data-pid=\"1\"] pre')" \
             ".textContent"
    browser.find_element(By.ID, "first").click()
    assert browser.execute_script(output) == ""
    browser.find_element(By.ID, "last").click()
    full = browser.execute_script("return PROCS[0].output")
    assert browser.execute_script(output) == full and "cow:" in full


def test_comparing_across_a_fork_lists_the_cow_entries(browser, pages):
    page, recs = pages["cow"]
    open_page(browser, page)
    browser.find_element(By.ID, "cmp-go").click()   # around the first fork
    got = rows(browser, "#cmp-out tr.diff")
    cow = {r["va"] for r in recs if r["event"] == "fork" and r["pid"] == 2
           and "COW" in r["levels"][-1]["flags"].split()}
    assert cow
    child = [r for r in got if r[0] == "2"]
    assert {int(r[1], 16) for r in child if "COW" in r[4]} == cow
    assert all(r[2] == "added" for r in child)
    parent = [r for r in got if r[0] == "1"]
    assert parent and {int(r[1], 16) for r in parent} <= cow
    for r in parent:
        assert r[2] == "flags changed"
        assert "COW" in r[4] and "COW" not in r[3]
    assert {r[0] for r in got} == {"1", "2"}


def test_each_card_draws_its_address_space_as_a_strip(browser, pages):
    """Regions from the tables at the selected event, high addresses at
    the top, one band per region of one backing."""
    open_page(browser, pages["shm", "32"][0])
    strip = browser.execute_script(
        "const s = document.querySelector('.card[data-pid=\"1\"] .strip');"
        "return [...s.querySelectorAll('.band')].map(b =>"
        " [b.title, b.getBoundingClientRect().top])")
    titles = [t for t, _ in strip]
    assert titles[0].startswith("the kernel half")
    by = {t.split(":")[0]: top for t, top in strip}
    assert set(by) == {"the kernel half", "image shmshare", "stack",
                       "shm 1"}
    assert by["the kernel half"] < by["stack"] < by["shm 1"] < \
        by["image shmshare"]
    shm = next(t for t, _ in strip if t.startswith("shm 1"))
    frame = text(browser, "sv-frame").split()[1]     # the shared frame
    assert shm.endswith(f"frames within {frame}-{int(frame, 16) + 0xFFF:#010x}")
    browser.find_element(By.ID, "first").click()
    assert browser.execute_script(
        "return document.querySelectorAll('.card[data-pid=\"2\"] .band')"
        ".length") == 1                          # not yet created


def test_screenshots_for_the_docs(browser, pages, tmp_path):
    """The PAE walk of the shared page and the comparison across the cow
    demo's first fork, as docs/explorer.md shows them (`make screenshot`
    writes them there)."""
    open_page(browser, pages["shm", "pae"][0])
    drawn_walk(browser, 2, 0x60000004, "read")
    walk_png = shot_path("explorer-pae-walk.png", tmp_path)
    assert browser.find_element(By.ID, "translate").screenshot(str(walk_png))
    open_page(browser, pages["cow"][0])
    browser.find_element(By.ID, "cmp-go").click()
    diff_png = shot_path("explorer-diff.png", tmp_path)
    assert browser.find_element(By.ID, "compare").screenshot(str(diff_png))
    assert walk_png.stat().st_size > 10_000 and \
        diff_png.stat().st_size > 10_000


def test_a_cards_entry_jumps_to_the_event_that_wrote_it(browser, pages):
    """Opening on the shared frame opens each card at its entry; the
    entry's link moves the timeline to the map or fault that wrote it."""
    open_page(browser, pages["shm", "32"][0])
    after_frames(browser)            # the cards on screen have drawn
    card = browser.find_element(By.CSS_SELECTOR, '.card[data-pid="1"]')
    assert "maps 0x40000000" in card.find_element(By.CSS_SELECTOR,
                                                  ".entry").text
    jump = card.find_element(By.CSS_SELECTOR, ".entry .jump")
    n = int(jump.text.split()[1])
    jump.click()
    assert text(browser, "position").startswith(f"event {n} of")
    now = text(browser, "event-now")
    assert now.startswith("fault pid 1") and "0x40000004" in now


def test_the_event_list_keeps_the_current_event_in_view(browser, pages):
    open_page(browser, pages["cow"][0])
    in_view = ("const box = document.getElementById('event-list')"
               ".getBoundingClientRect(), r = document.querySelector("
               "'#events tr.now').getBoundingClientRect();"
               "return r.top >= box.top && r.bottom <= box.bottom")
    for button in ("last", "first", "last"):
        browser.find_element(By.ID, button).click()
        assert browser.execute_script(in_view), button
    assert browser.execute_script(
        "return document.getElementById('event-list').scrollTop") > 0


def test_the_frames_entries_are_joined_to_it_in_a_band_of_their_own(
        browser, pages):
    """One line from each entry naming the selected frame to its cell,
    drawn in the band between the list of entries and the frame map."""
    open_page(browser, pages["shm", "32"][0])
    got = browser.execute_script("""
        const band = document.getElementById('frame-links'),
              b = band.getBoundingClientRect(),
              cv = document.getElementById('framemap').getBoundingClientRect(),
              ends = [...band.querySelectorAll('path')].map(p =>
                p.getAttribute('d').split(' ').pop().split(',').map(Number));
        return {ends, cell: cv.left - b.left + (selFrame % FCOLS) * FCELL
                + FCELL / 2, height: b.height, text: band.textContent,
                chips: document.querySelectorAll('#frame-info .owner').length,
                below: cv.top >= b.bottom - 1}""")
    assert got["chips"] == len(got["ends"]) == 2
    assert all(x == got["cell"] and y == got["height"]
               for x, y in got["ends"])
    assert got["text"] == "" and got["below"]
