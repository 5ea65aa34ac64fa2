# Two commands for people (see README.md): `make book` and `make test`.
# Both set up what is missing first and skip what is done.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test bench standins setup data clean

setup: $(STAMP) data

# The virtual environment: rebuilt only when the requirements change.
$(STAMP): requirements.txt code/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

# FashionMNIST from Debian's package where apt-get is usable; otherwise the
# package downloads it on first use (see resnetbook/data.py).
data:
	@bash scripts/provision.sh data

book: setup
	$(PY) scripts/cache_key.py _build/.jupyter_cache
	$(VENV)/bin/jupyter-book build . --builder html --keep-going -W
	@echo "Site built: _build/html/index.html"

test: setup
	$(PY) -m pytest tests

bench: setup
	$(PY) benchmarks/bench_train.py

standins: setup
	$(PY) -m resnetbook.standins

clean:
	rm -rf _build
