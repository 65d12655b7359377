# hashwatch: `make demo` and `make test` work on a fresh machine; both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# lingua-py's test data, all 75 languages: fetched by `make bench` (LINGUA_PY_REPO: a local copy)
LANGID_TESTDATA ?= .cache/lingua-testdata

.PHONY: demo test lint bench fuzz faults schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)  ## a synthetic campaign through the whole pipeline, live counts on screen
	$(BIN)/hashwatch demo $(DEMO_ARGS)

test: $(STAMP)  ## the test suite, against the real embedded broker and PostgreSQL
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, mypy, and the import contracts (no cycles, layers as in README)
	$(BIN)/ruff check pipeline agents schemas tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)  ## prints the measured figures (~7 min); a missed target does not stop the rest
	-bench/fetch_lingua_testdata.sh $(LANGID_TESTDATA)  # all 75 languages; offline, the 14 of ../shared
	-$(BIN)/python bench/langid_bench.py $$(test -f $(LANGID_TESTDATA)/published-accuracy-lingua.csv \
		&& echo --testdata $(LANGID_TESTDATA))  # exits 1 while a target is missed: go on to the rest
	-$(BIN)/python bench/neardup_bench.py
	-$(BIN)/python bench/store_bench.py
	-$(BIN)/python bench/throughput_bench.py $(THROUGHPUT_ARGS)
	-$(BIN)/python bench/lingua_load_bench.py
	-$(BIN)/python bench/latency_bench.py $(LATENCY_ARGS)
	-$(BIN)/python bench/workers_bench.py $(WORKERS_ARGS)
	-$(BIN)/python bench/state_memory_bench.py

faults: $(STAMP)  ## kill -9, PostgreSQL stopped, broker restarted, 1-3 workers: same results (minutes)
	$(BIN)/pytest -q -s -m faults $(PYTEST_ARGS)

fuzz: $(STAMP)  ## every parser under 10,000 generated inputs (property-based; minutes, not seconds)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -m fuzz $(PYTEST_ARGS)

schemas: $(STAMP)  ## regenerate schemas/json from the records
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) hashwatch-data .pytest_cache .mypy_cache .ruff_cache
