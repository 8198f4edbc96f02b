# fb-analyst: `make demo` and `make test` work on a fresh machine (Python 3.11, pip, network to PyPI).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/synthetic_fb_ads_undergarments.csv

.PHONY: install demo test test-fast dashboard bench schemas clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first: pins the local CPU wheel so sentence-transformers does not pull a CUDA build.
# constraints.txt pins the versions the suite was last run with (regenerate: pip freeze).
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet $(WHEELS) torch==2.13.0
	$(BIN)/pip install --quiet $(WHEELS) -c constraints.txt -e ".[embeddings,spark,llm,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fb-analyst run $(SAMPLE) --out outputs

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not spark and not browser"

dashboard: $(STAMP)
	$(BIN)/fb-analyst dashboard $(SAMPLE)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

schemas: $(STAMP)
	$(BIN)/python -m fb_analyst.contracts schemas

clean:
	rm -rf $(VENV) outputs .pytest_cache
