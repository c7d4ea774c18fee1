# Deep Generative Models, hands-on. Every target installs what it needs first.
#   make lab      set up, then open JupyterLab on the course (the student's main command)
#   make test     set up, then run the whole test suite (what CI runs)
#   make course   set up, then execute every notebook headless (lecture profile) into build/
#   make install  only the set-up: a virtual environment in .venv with the pinned versions
# Options: PYTHON=python3.12 (the interpreter for the venv), PINS= (empty: newest allowed versions),
#          PROFILE=smoke|lecture|full for `make course`.

PYTHON  ?= python3
VENV    ?= .venv
PINS    ?= constraints.txt
PROFILE ?= lecture
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install lab test course release doctor pins clean

install: $(STAMP)

$(STAMP): pyproject.toml $(PINS)
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 10) else f"Python 3.10 or newer is needed, {sys.executable} is {v.major}.{v.minor}: run make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(if $(PINS),-c $(PINS)) -e '.[dev]'
	@touch $(STAMP)
	@echo "Installed into $(VENV). Check the set-up any time with: $(BIN)/python -m course_utils doctor"

# Jupyter refuses to start as root unless told; containers and some cloud machines run everything as root.
lab: install
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_setup_and_tour.ipynb

test: install
	$(BIN)/python -m pytest

course: install
	$(BIN)/python -m course_utils run --profile $(PROFILE)

release: install
	$(BIN)/python -m course_utils release

doctor: install
	$(BIN)/python -m course_utils doctor

pins: install
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf build .pytest_cache .ruff_cache
