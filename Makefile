# Two entry points: `make demo` and `make test`. Both create .venv if missing and install the
# project with its extras. torch is installed first and pinned so nothing pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install lint bench fuzz clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[ml,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/learnchain demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n 2 -m "not slow" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Peer-protocol fuzzing: 10^6 hostile inputs (FUZZ_COUNT to change), 0 undocumented exceptions.
FUZZ_COUNT ?= 1000000
fuzz: $(STAMP)
	$(PY) tools/fuzz_peer.py --count $(FUZZ_COUNT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
