# ia32k: `make run` boots the demo, `make test` runs the suite. Each sets up
# what it needs on a fresh machine, and no more: `make run` gcc and a .venv
# with the project; `make test` also gdb, chromium and its driver, and the
# test packages. A missing system package is installed with apt-get (as
# root, or through sudo when it needs no password); otherwise one line says
# the command to run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: run test bench fuzz trace debug setup clean screenshot docs

setup: $(TEST_STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -m tools.sysdeps gcc
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/python -m tools.toolchain.gen_include >/dev/null
	touch $(STAMP)

# gdb for the debugger's tests; Debian's chromium and its driver for the
# --html page's browser tests
$(TEST_STAMP): $(STAMP)
	@$(PYTHON) -m tools.sysdeps gdb chromium chromedriver=chromium-driver
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/ia32k run userland/demo/family.c
	$(BIN)/ia32k run --maps --html shmshare.html userland/demo/shmshare.c
	@echo "wrote shmshare.html: open it in a browser to explore the page tables"
	@# fork: the maps name each page's frame, "(cow)" while still shared
	$(BIN)/ia32k run --maps userland/demo/cow.c
	$(BIN)/ia32k run userland/demo/offlist.c
	@# abslist's first child dies of a page fault on purpose, so ia32k exits 1
	$(BIN)/ia32k run userland/demo/abslist.c || true
	$(BIN)/python -m tools.bench.ipc --mib 4 --repeat 1
	@# two CPUs, one shared counter: the plain increment loses updates, and
	@# --races names the two instructions, both pids and addresses (stderr)
	$(BIN)/ia32k run --cpus 2 --seed 7 --races userland/demo/race.c
	@# threads of one process sum one array on two CPUs at once
	$(BIN)/ia32k run --cpus 2 userland/demo/threads.c
	@# W^X: code written into a page, flipped to read+execute by mprotect,
	@# then run; the child that stores into it dies on purpose (exit 1)
	$(BIN)/ia32k run --paging pae userland/demo/wx.c || true
	@# TLB shootdown: the reader thread faults once its sibling detaches the
	@# segment; with --tlb-shootdown off it reads the frame's next owner's
	@# data through its stale TLB, which the kernel reports (both exit 1)
	$(BIN)/ia32k run --cpus 2 --seed 1 userland/demo/stale.c || true
	$(BIN)/ia32k run --cpus 2 --seed 1 --tlb-shootdown off userland/demo/stale.c || true

# The picture of the --html page in docs/explorer.md, taken by its browser test.
screenshot: $(TEST_STAMP)
	IA32K_SCREENSHOT=1 $(BIN)/python -m pytest tests/tools/explorer/test_html_browser.py tests/tools/explorer/test_html_views.py -k screenshot

# in parallel, one worker per core (pytest-xdist)
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n auto

# `make docs`: the guide (docs/, nav in mkdocs.yml) as a website in site/.
docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict

# `make trace`: the page-walk demo traced as text (trace.txt) and JSON lines
# (trace.jsonl); see docs/address-spaces.md. Exit status 1 is expected:
# the demo's second process dies of a page fault on purpose.
TRACE_RUN := $(BIN)/ia32k trace --quantum 100000 --dump-pt \
	--walk 1:0x60000004 --walk 2:0x60000004 --walk 1:0x00400000 \
	--walk 2:0x00400000 userland/demo/pagewalk.c
trace: $(STAMP)
	$(TRACE_RUN) --trace trace.txt || test $$? -eq 1
	$(TRACE_RUN) --trace trace.jsonl >/dev/null || test $$? -eq 1
	@echo "wrote trace.txt and trace.jsonl"

# `make debug`: the shared-memory demo under gdb (docs/gdb.md):
# ia32k waits on a free port and prints the gdb command to type in
# another terminal.
debug: $(STAMP)
	$(BIN)/ia32k run --gdb $${GDB_PORT:-1234} userland/tests/gdb_shm.c

bench: $(TEST_STAMP)
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) .build .pytest_cache

fuzz: $(STAMP)
	$(BIN)/python -m tools.fuzz --jobs $${FUZZ_JOBS:-2} --check-every 8 --coverage-every 8 --seam-share 0.03 --pair-share 0.1 --seconds $${FUZZ_SECONDS:-120} --save fuzz-failures $${FUZZ_ARGS}
