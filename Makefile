# Two entry points for a fresh clone: `make reproduce` and `make test`.
# Both create the virtual environment on first use; conda users run them with
# VENV=$CONDA_PREFIX after `conda env create -f environment.yml`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.derain-installed

.PHONY: install reproduce test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job. Until the notebooks land it renders the embedded synthetic dataset,
# checks it, and draws a sheet of its pairs.
reproduce: $(STAMP)
	$(BIN)/derain synth --clean default --out build/synthetic --n 512 --size 256 --seed 0 --overwrite
	$(BIN)/derain check-data build/synthetic
	$(BIN)/derain sheet build/synthetic --split train --n 8 --out build/synthetic_pairs.png

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/derain bench

clean:
	rm -rf build .pytest_cache
