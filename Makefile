# Two entry points for a fresh clone: `make reproduce` and `make test`.
# Both create the virtual environment on first use; conda users run them with
# VENV=$CONDA_PREFIX after `conda env create -f environment.yml`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.derain-installed

.PHONY: install reproduce ablation report test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: run every notebook with papermill on the cpu profile and the embedded
# synthetic data, writing figures/fig*.png|pdf and figures/metrics.json, then build the
# HTML report into build/report/. Interrupted? Run it again: training resumes.
# Values on the command line (make reproduce PROFILE=paper) override these; the environment does not.
PROFILE = cpu
DATA = synthetic
reproduce: $(STAMP)
	$(BIN)/derain reproduce --profile $(PROFILE) --data $(DATA)
	$(BIN)/derain report

# Every row of experiment 4's ablation (a reproduction trains the short table only), into
# the folder chapter 5 reads: run `make reproduce` again afterwards to show the full table.
ablation: $(STAMP)
	$(BIN)/derain ablate --profile $(PROFILE) --data $(DATA) --out build/runs/$(PROFILE)/ablation

report: $(STAMP)
	$(BIN)/derain report

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/derain bench

clean:
	rm -rf build .pytest_cache
