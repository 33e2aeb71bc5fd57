# The README's two commands: `make reproduce` (main job) and `make test` (whole test suite).
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
DATA ?= $(SHARED_DATA)
endif
DATA ?= $(ACTIVATIONS_REPRO_DATA)
# glibc keeps freed memory instead of returning it after every batch (1.3x faster CPU training here)
export MALLOC_MMAP_THRESHOLD_ ?= 1000000000
export MALLOC_TRIM_THRESHOLD_ ?= 1000000000
WORKERS ?= 2

.PHONY: install test lint reproduce docs grids

# the exact versions of the reproduction (constraints.txt); the library itself declares ranges (pyproject.toml)
$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	# PAU's authors' package, which the tests compare against: its metadata pins torch==1.7.1, so it comes without dependencies
	$(BIN)/pip install -q --no-deps -c constraints.txt rational-activations
	touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check --select F activations_repro tests scripts

# tests never read downloaded data: every notebook and test builds its own small fixtures; the report chapters read the
# result files of tiny runs trained first on fake data (experiments.write_report_fixtures), since a chapter never trains
FIXTURES := $(or $(TMPDIR),/tmp)/activations_repro-report-fixtures
test: lint
	rm -rf $(FIXTURES)
	env -u ACTIVATIONS_REPRO_DATA $(BIN)/python -c "from activations_repro.experiments import write_report_fixtures; write_report_fixtures('$(FIXTURES)', workers=2)"
	env -u ACTIVATIONS_REPRO_DATA AR_RESULTS=$(FIXTURES)/results $(BIN)/nbdev-test --n-workers 2
	env -u ACTIVATIONS_REPRO_DATA $(BIN)/pytest -q -n 2 tests

# train the runs whose result files are missing (resuming from results/checkpoints/); needs the data
grids: install
	@if [ -z "$(DATA)" ]; then echo "no data folder (set ACTIVATIONS_REPRO_DATA): drawing from the committed result files only"; else \
	  export ACTIVATIONS_REPRO_DATA=$(DATA); \
	  $(BIN)/ar-grid --grid paper_b_cifar10 --budget full --workers $(WORKERS) && \
	  $(BIN)/ar-grid --grid paper_b_screen --budget screen --workers $(WORKERS) && \
	  $(BIN)/ar-grid --grid paper_b_jpeg50 --budget screen --workers $(WORKERS) && \
	  $(BIN)/ar-grid --grid paper_a_cifar10 --budget reduced --workers $(WORKERS) && \
	  for g in kaf_compare kaf_mnist kaf_nobias kaf_scale kaf_anchors kaf_cost kaf_lr kaftron; do $(BIN)/ar-grid --grid $$g --budget reduced || exit 1; done && \
	  $(BIN)/ar-grid --grid paper_b_cifar10_tf --budget full --workers $(WORKERS) && \
	  $(BIN)/ar-grid --grid paper_b_cifar10_tf_peers --budget full --workers $(WORKERS); fi

reproduce: grids
	$(BIN)/ar-docs --execute
	$(BIN)/nbdev-clean

docs: install
	$(BIN)/ar-docs
