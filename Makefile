# ia32k: `make run` boots the demo, `make test` runs the suite. Both set up
# everything on a fresh machine: a .venv with the project and its packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench fuzz trace debug setup clean screenshot docs

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v gcc >/dev/null 2>&1 || { apt-get update && apt-get install -y gcc; }
	@command -v gdb >/dev/null 2>&1 || { apt-get update && apt-get install -y gdb; }
	@# the --html page's browser tests: Debian's chromium and its driver
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		{ apt-get update && apt-get install -y chromium chromium-driver; }
	@command -v make >/dev/null 2>&1 || true
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m tools.toolchain.gen_include >/dev/null
	touch $(STAMP)

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
screenshot: $(STAMP)
	IA32K_SCREENSHOT=1 $(BIN)/python -m pytest tests/tools/explorer/test_html_browser.py -k screenshot

test: $(STAMP)
	$(BIN)/python -m pytest

# `make docs`: the guide (docs/, nav in mkdocs.yml) as a website in site/.
docs: $(STAMP)
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

bench: $(STAMP)
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) .build .pytest_cache

fuzz: $(STAMP)
	$(BIN)/python -m tools.fuzz --jobs $${FUZZ_JOBS:-2} --check-every $${FUZZ_CHECK_EVERY:-1} --seconds $${FUZZ_SECONDS:-120} --save fuzz-failures
