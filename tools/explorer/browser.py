"""A headless Debian chromium driven by selenium: for the --html page's
browser tests and tools/bench/html.py. `make setup` installs chromium and
chromium-driver with apt-get when missing."""

import contextlib
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run")


@contextlib.contextmanager
def chromium(width=1400, height=2400):
    """A WebDriver on a fresh profile, quit (and the profile removed) on
    the way out whatever happens; its console log is readable."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory() as profile:
        for flag in FLAGS + (f"--user-data-dir={profile}",
                             f"--window-size={width},{height}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=opts,
                                  service=Service(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def load(driver, path):
    """Open the page file at path; return (seconds until loaded, the page's
    own figure for drawing itself in ms, console errors)."""
    t = time.perf_counter()
    driver.get(path.resolve().as_uri())
    took = time.perf_counter() - t
    ready = driver.execute_script("return document.body.dataset.ready")
    init_ms = driver.execute_script("return document.body.dataset.initMs")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if ready != "1":
        errors.append({"message": "the page did not finish drawing"})
    return took, int(init_ms or 0), errors
