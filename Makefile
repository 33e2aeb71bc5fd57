# The README's two commands: `make reproduce` (main job) and `make test` (whole test suite).
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export ACTIVATIONS_REPRO_DATA ?= $(SHARED_DATA)
endif
# glibc keeps freed memory instead of returning it after every batch (1.3x faster CPU training here)
export MALLOC_MMAP_THRESHOLD_ ?= 1000000000
export MALLOC_TRIM_THRESHOLD_ ?= 1000000000
WORKERS ?= 2

.PHONY: install test reproduce docs grids clean-docs

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/nbdev-test --n-workers 2
	$(BIN)/pytest -q -n 2 tests

grids: install
	$(BIN)/ar-grid --grid paper_b_cifar10 --budget reduced --workers $(WORKERS)
	$(BIN)/ar-grid --grid paper_a_cifar10 --budget reduced --workers $(WORKERS)
	for g in kaf_compare kaf_scale kaf_anchors kaf_lr kaftron; do $(BIN)/ar-grid --grid $$g --budget reduced || exit 1; done

reproduce: grids
	$(BIN)/ar-docs --execute
	$(BIN)/nbdev-clean

docs: install
	$(BIN)/ar-docs
