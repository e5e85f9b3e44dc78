# One command to run a real case, one to pass the tests; both start from a bare Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CASE   ?= cases/gaussian_1d.toml
OUT    ?= out

.PHONY: install run test docs validation bench mutation clean

$(BIN)/pdesolve: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# the test suite also runs the sweeps on a real Dask cluster and the JAX backend on the CPU
$(VENV)/.test-extras: $(BIN)/pdesolve
	$(BIN)/python -m pip install --quiet -e ".[test,sweep,jax]"
	touch $@

$(VENV)/.docs-extra: $(BIN)/pdesolve
	$(BIN)/python -m pip install --quiet -e ".[test,docs,jax]"
	touch $@

install: $(BIN)/pdesolve

run: install
	mkdir -p $(OUT)
	$(BIN)/pdesolve run $(CASE) -o $(OUT)/$(notdir $(basename $(CASE))).h5 --force
	$(BIN)/pdesolve plot $(OUT)/$(notdir $(basename $(CASE))).h5 -o $(OUT)/$(notdir $(basename $(CASE)))_plots

# one pytest worker per core; a test file stays in one worker, so its module fixtures run once;
# XLA runs single-threaded there, so that the JAX tests do not take the other worker's core
test: $(VENV)/.test-extras
	XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
		$(BIN)/python -m pytest -q -n auto --dist loadfile

# the documentation site, docs/_build/html/index.html; any Sphinx warning fails the build
docs: $(VENV)/.docs-extra
	$(BIN)/python -m sphinx -E -b html -W --keep-going -q docs docs/_build/html

validation: install
	for script in validation/[!_]*.py; do $(BIN)/python $$script || exit 1; done
	$(BIN)/python validation/_readme.py

bench: install
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/bench.py --output benchmarks/RESULTS.md

# Mutation testing of the numerical core and the file layer (not part of CI): mutation/RESULTS.md.
mutation: install
	$(BIN)/python -m pip install --quiet -e ".[test,mutation]"
	$(BIN)/python mutation/known_defects.py
	$(BIN)/python mutation/run.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache docs/_build docs/_generated
