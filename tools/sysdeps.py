"""The system packages a make target needs, installed only when missing:
`python3 -m tools.sysdeps gcc gdb chromedriver=chromium-driver` checks each
COMMAND (installed by the Debian package of that name, or PACKAGE) and, for
those missing, runs apt-get as root, or through sudo when sudo needs no
password; otherwise it prints the one command to run and fails."""

import argparse
import os
import shutil
import subprocess
import sys


def missing_packages(specs, which=shutil.which):
    """The packages of the COMMAND[=PACKAGE] specs whose command is not on
    the PATH, in order, each once."""
    found = []
    for spec in specs:
        command, _, package = spec.partition("=")
        if which(command) is None and (package or command) not in found:
            found.append(package or command)
    return found


def install_command(euid, which=shutil.which, run=subprocess.run):
    """The argv prefix that runs apt-get with root rights (empty for root,
    ["sudo", "-n"] when sudo works without a password), or None."""
    if euid == 0:
        return []
    if which("sudo") and run(["sudo", "-n", "true"], capture_output=True
                             ).returncode == 0:
        return ["sudo", "-n"]
    return None


def ensure(specs, euid=None, which=shutil.which, run=subprocess.run,
           say=print):
    """Install what specs need; 0 when everything is there, else 1 after
    one line saying what to run."""
    packages = missing_packages(specs, which)
    if not packages:
        return 0
    names = " ".join(packages)
    if which("apt-get") is None:
        say(f"ia32k: missing {names}: install it with your system's "
            "package manager, then run make again")
        return 1
    prefix = install_command(os.geteuid() if euid is None else euid, which,
                             run)
    if prefix is None:
        say(f"ia32k: missing {names}: run `sudo apt-get install -y {names}`, "
            "then make again")
        return 1
    for step in (["apt-get", "update"], ["apt-get", "install", "-y",
                                         *packages]):
        if run(prefix + step).returncode != 0:
            say(f"ia32k: `{' '.join(prefix + step)}` failed")
            return 1
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m tools.sysdeps", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="*", metavar="COMMAND[=PACKAGE]",
                    help="a command the target needs, and the Debian "
                         "package that installs it when its name differs")
    return ensure(ap.parse_args(argv).specs)


if __name__ == "__main__":
    sys.exit(main())
