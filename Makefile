# parcel-course: every task goes through here.  `make demo` and `make test`
# work on a fresh machine: they create .venv and install what is missing.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
# both distributions: the instructor's (pyproject.toml) and the student's (student/pyproject.toml)
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml student/pyproject.toml | cksum | cut -d' ' -f1)
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 3
export PYDEVD_DISABLE_FILE_VALIDATION := 1

ASSIGNMENTS := $(notdir $(wildcard source/0*))

.PHONY: help install demo demo-lms test test-fast source release solutions bundle bench bench-class clean
help:
	@echo "make demo       release the course, grade a simulated class, write the reports"
	@echo "make demo-lms   the simulated class hands in through an LMS download (LMS=moodle or canvas), 01_convolution"
	@echo "make test       the whole test suite (what CI runs)"
	@echo "make source     rebuild source/*/*.ipynb from the .src.py scripts"
	@echo "make release    nbgrader generate_assignment for every assignment into release/"
	@echo "make solutions  execute the source notebooks into solutions/ (outputs in)"
	@echo "make bundle     what students get: the student wheel, release/ notebooks, a README (dist/bundle/ and its zip)"
	@echo "make bench      the grading benchmark (writes BENCHMARKS.md)"
	@echo "make bench-class  a class of 100 students over the four assignments: seconds per submission, wall times, where they go (BENCHMARKS.md, about 20 min)"

$(STAMP): pyproject.toml student/pyproject.toml
	@# bubblewrap isolates the grading kernels; install it where we may (root on Debian/Ubuntu).
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || \
	  echo "note: bubblewrap (bwrap) is not installed: grading runs without file-system/network isolation"
	@# Debian's Chromium: the browser of tests/test_formgrader.py (driven by Playwright; no browser is downloaded)
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "note: Debian's chromium is not installed (needs root and apt-get): tests/test_formgrader.py is skipped"
	@# Debian's PostgreSQL server: tests/test_postgres.py starts a throwaway one (the gradebook on a server)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1; } || \
	  echo "note: Debian's postgresql is not installed (needs root and apt-get): the PostgreSQL gradebook tests are skipped"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# the student package asks for `tensorflow` (what Colab has); a venv made before that holds
	@# `tensorflow-cpu`, another distribution of the same files: take it out first
	@$(PY) -m pip show -q tensorflow-cpu >/dev/null 2>&1 && $(PY) -m pip uninstall -q -y tensorflow-cpu || true
	$(PY) -m pip install -q -e ./student -e ".[test]"
	@# enable the server extension parcel_course.webguard (formgrader's Content-Security-Policy), as a wheel's data file does
	install -D -m 644 jupyter-config/jupyter_server_config.d/parcel_course.json $(VENV)/etc/jupyter/jupyter_server_config.d/parcel_course.json
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/parcel-course demo

LMS ?= moodle
demo-lms: $(STAMP)
	$(VENV)/bin/parcel-course demo --lms $(LMS) 01_convolution

# Heavy solution notebooks are executed once, by the grading checks (tests/test_pipeline.py).
HEAVY := 04_cnn
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax tests solutions $(addprefix --ignore=solutions/,$(HEAVY))
	@# the examples in the library's docstrings are documentation: they must stay true
	@# (the assignments' folders start with a digit, which pytest cannot import as packages:
	@#  tests/test_layout.py runs their examples through parcel_course.assignments.load)
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules parcel_utils parcel_course --ignore=parcel_course/assignments

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

source: $(STAMP)
	$(PY) -c "from parcel_course.authoring import build_source; [print(p) for p in build_source('source')]"

release: source
	$(VENV)/bin/parcel-course generate

solutions: source
	$(VENV)/bin/parcel-course solutions $(ASSIGNMENTS)

bundle: $(STAMP)
	$(VENV)/bin/parcel-course bundle

bench: $(STAMP)
	$(PY) benchmarks/grading.py

bench-class: $(STAMP)
	$(PY) benchmarks/class_grading.py

clean:
	rm -rf exchange submitted feedback gradebook.db reports lms
	find autograded -mindepth 1 ! -name README.md -exec rm -rf {} +
