"""tools/sysdeps.py: system packages installed only when missing, by root
or sudo, else one line naming the command to run."""

from types import SimpleNamespace

from tools.sysdeps import ensure, missing_packages


def fake(present, sudo_ok=False):
    """which() and run() of a machine where the commands in present exist;
    run records each command and succeeds (sudo -n true: when sudo_ok)."""
    ran = []

    def which(cmd):
        return f"/usr/bin/{cmd}" if cmd in present else None

    def run(argv, **kw):
        ran.append(argv)
        ok = sudo_ok or argv != ["sudo", "-n", "true"]
        return SimpleNamespace(returncode=0 if ok else 1)
    return which, run, ran


def test_missing_packages_by_command():
    which, _, _ = fake({"gcc"})
    assert missing_packages(["gcc", "gdb", "chromium",
                             "chromedriver=chromium-driver"], which) == [
        "gdb", "chromium", "chromium-driver"]


def test_nothing_missing_runs_nothing():
    which, run, ran = fake({"gcc", "apt-get"})
    assert ensure(["gcc"], euid=1000, which=which, run=run) == 0
    assert ran == []


def test_root_installs_with_apt_get():
    which, run, ran = fake({"apt-get"})
    assert ensure(["gcc", "gdb"], euid=0, which=which, run=run) == 0
    assert ran == [["apt-get", "update"],
                   ["apt-get", "install", "-y", "gcc", "gdb"]]


def test_a_user_with_passwordless_sudo_installs_through_it():
    which, run, ran = fake({"apt-get", "sudo"}, sudo_ok=True)
    assert ensure(["gdb"], euid=1000, which=which, run=run) == 0
    assert ran[1:] == [["sudo", "-n", "apt-get", "update"],
                       ["sudo", "-n", "apt-get", "install", "-y", "gdb"]]


def test_a_user_without_sudo_is_told_the_one_command():
    lines = []
    for present in ({"apt-get"}, {"apt-get", "sudo"}):
        which, run, ran = fake(present)
        assert ensure(["gcc", "chromedriver=chromium-driver"], euid=1000,
                      which=which, run=run, say=lines.append) == 1
        assert not any("apt-get" in argv for argv in ran)
    assert lines == ["ia32k: missing gcc chromium-driver: run `sudo apt-get "
                     "install -y gcc chromium-driver`, then make again"] * 2
