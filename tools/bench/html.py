"""How large a run the --html page handles: write the page for 256
processes and for a 64 MiB segment, open each in headless chromium, and
print the run's time, the page's size, its load time and the time its
timeline filter takes.

    .venv/bin/python -m tools.bench.html
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By

from tools.explorer.browser import chromium, load

from tools import ROOT
from tools.cmdline import no_options
CASES = (("256 processes", "userland/tests/html_many.c"),
         ("64 MiB segment (16,384 PTEs, twice)",
          "userland/tests/shm_64mib_test.c"),
         ("shared-memory demo", "userland/demo/shmshare.c"))


def write_page(program, page):
    """Run program with --html page; return the run's seconds."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.cli", "run", "--html",
                    str(page), program], cwd=ROOT, check=True,
                    capture_output=True)
    return time.perf_counter() - t


def main():
    with tempfile.TemporaryDirectory() as d, chromium() as driver:
        print(f"{'run':<38} {'run s':>6} {'page':>8} {'events':>7} "
              f"{'load s':>7} {'draw ms':>8} {'loaded ms':>9} "
              f"{'filter ms':>9}")
        for name, program in CASES:
            page = Path(d) / "page.html"
            run_s = write_page(program, page)
            took, init_ms, errors = load(driver, page)
            events = driver.execute_script("return D.events.length")
            print(f"{name:<38} {run_s:>6.2f} "
                  f"{page.stat().st_size / 1e6:>6.1f}MB {events:>7} "
                  f"{took:>7.2f} {init_ms:>8} {page_ms(driver)}" +
                  (f"  ERRORS: {errors}" if errors else ""))


def page_ms(driver):
    """The page's own figures: ms from navigation until it had drawn
    itself, and ms to filter the timeline by pid 2."""
    done = driver.execute_script("return document.body.dataset.doneAt")
    driver.find_element(By.ID, "f-pid").send_keys("2")
    filt = driver.execute_script("return document.body.dataset.filterMs")
    return f"{done:>9} {filt:>9}"


if __name__ == "__main__":
    no_options("tools.bench.html", __doc__)
    main()
