"""The figures' plot (tools/fuzz/plot.py): an SVG with one line per
campaign, the y axis spanning the lines reached."""

import xml.etree.ElementTree as ET

from tools.fuzz import plot


def test_svg_has_a_line_per_campaign():
    curves = {"blind": [(0, 0), (5, 1200), (10, 1250)],
              "guided": [(0, 0), (5, 1190), (10, 1300)]}
    root = ET.fromstring(plot.svg(curves, 10))
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    for line in lines:
        pts = [tuple(map(float, p.split(","))) for p in
               line.get("points").split()]
        assert len(pts) == 2                        # the (0, 0) is left out
        assert all(plot.PAD <= x <= plot.W - plot.PAD and
                   plot.PAD <= y <= plot.H - plot.PAD for x, y in pts)
    labels = [t.text for t in root.findall(f"{ns}text")]
    assert "1100" in labels and "1400" in labels    # the axis spans them


def test_figures_keep_the_sections_other_tools_wrote(tmp_path):
    doc = tmp_path / "fuzz-figures.md"
    doc.write_text("# Fuzzer figures\n\nold table\n\n## Planted\n\nkept\n")
    plot.write_figures(doc, "# Fuzzer figures\n\nnew table\n")
    assert doc.read_text() == \
        "# Fuzzer figures\n\nnew table\n\n## Planted\n\nkept\n"
    fresh = tmp_path / "fresh.md"
    plot.write_figures(fresh, "# Fuzzer figures\n")
    assert fresh.read_text() == "# Fuzzer figures\n"


class _Run:
    def __init__(self, cases, cpu):
        self.total, self.cpu = type("T", (), {"cases": cases})(), cpu


def test_figures_compare_every_campaign_with_the_earlier_fuzzer():
    from tools.fuzz.baseline import Figures
    series = plot.Series(set())
    found = {"blind, no coverage": (_Run(600, 3.0), series),
             plot.MAKE_FUZZ: (_Run(900, 3.0), series)}
    old = Figures("abc^", 400, 4.0, 0)
    rows = [r for r in plot.figures(found, 10, 1, old).splitlines()
            if r.startswith("| ")]
    assert "vs the fuzzer of abc^" in rows[0]
    made = next(r for r in rows if r.startswith(f"| {plot.MAKE_FUZZ} "))
    assert made.split(" | ")[2:5] == ["300.0", "1.50", "3.00"]
    assert rows[-1].startswith("| blind fuzzer of abc^")
    assert rows[-1].split(" | ")[2:5] == ["100.0", "0.50", "1.00"]


def test_make_fuzz_options_parse_into_a_guided_campaign():
    o = plot.make_fuzz_options()
    assert o["guided"] and o["measure"] > 1 and o["check_every"] > 1
    assert 0 < o["seam_share"] < 1 and 0 < o["diff_share"] < 1
