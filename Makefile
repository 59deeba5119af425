# physjax developer commands. Works on a fresh clone: `make test` builds .venv first.
#   make venv    create .venv and install physjax with its dev extras (re-run when pyproject.toml changes)
#   make test    run the test suite (pytest-xdist, $(JOBS) workers) without the tests
#                marked slow (larger-size repeats of physics checks); CI runs this
#   make test-all  the whole suite, slow tests included
#   make demo    run every experiment at quick size; writes ./physjax-out/
#   make bench   run the benchmarks (BENCH_ARGS="--quick" for a short run)
#   make device-check  every benchmark family at sizes suited to the backend JAX sees (GPU:
#                full sizes in < 8 min; CPU: tiny sizes), with roofline fractions
#   make lint    ruff

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.physjax-installed
JOBS ?= 2
PYTEST_ARGS ?=
MARKERS ?= not slow
DEMO_ARGS ?=
BENCH_ARGS ?=
DEVICE_ARGS ?=

.PHONY: venv test test-all demo bench device-check lint

venv: $(STAMP)

# The stamp is older than pyproject.toml when the dependencies may have changed.
$(STAMP): pyproject.toml
	@if [ ! -x "$(BIN)/python" ]; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv "$(VENV)" && "$(BIN)/python" -m pip install --quiet --upgrade pip; \
	fi
	"$(BIN)/python" -m pip install --quiet -e ".[dev]"
	@touch "$(STAMP)"

test: venv
	"$(BIN)/python" -m pytest -n $(JOBS) --dist worksteal -q -m "$(MARKERS)" $(PYTEST_ARGS)

test-all: venv
	"$(BIN)/python" -m pytest -n $(JOBS) --dist worksteal -q $(PYTEST_ARGS)

demo: venv
	"$(BIN)/physjax" demo $(DEMO_ARGS)

bench: venv
	@"$(BIN)/python" -c "import thrml" 2>/dev/null || "$(BIN)/python" -m pip install --quiet -e ".[dev,bench]"
	"$(BIN)/python" benchmarks/run.py $(BENCH_ARGS)

device-check: venv
	"$(BIN)/python" benchmarks/device_check.py $(DEVICE_ARGS)

lint: venv
	"$(BIN)/ruff" check .
