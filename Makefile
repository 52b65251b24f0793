# The single entry point for people and CI. `make book` builds the study book, `make test` runs the tests.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= lab
PYTHON  ?= python3
# test processes: each test file runs whole in one (its module fixtures, e.g. a built book, are made once)
TEST_WORKERS ?= 2

.PHONY: book test venv check-book bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch's x86_64 wheel brings its CUDA libraries: the venv takes about 7 GB, and pip's own error for a full
	@# disk comes late and reads as a package fault
	@free=$$(df -Pk $(VENV) | awk 'NR==2 {print int($$4 / 1048576)}'); if [ "$$free" -lt 8 ]; then \
	  echo "warning: $$free GiB free where $(VENV) is installed; the environment needs about 7 GiB" >&2; fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

book: venv
	$(VENV)/bin/clipstudy build --profile $(PROFILE)

test: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

check-book: venv
	bash book/check_html.sh

bench: venv
	$(PY) benchmarks/engine.py

clean:
	rm -rf book/_build book/chapters book/results
