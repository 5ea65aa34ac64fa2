# Two commands for people (see README.md): `make book` and `make test`.
# Both set up what is missing first and skip what is done.
#
#   make book                  instructor edition (solutions behind toggles) -> _build/html
#   make book EDITION=student  student edition (no solutions) -> _build/student/_build/html
#   make test                  setup, both editions, then pytest: unit tests, ruff, stored outputs vs the build, browser
#   make outputs               re-execute the chapters, store reference outputs (then commit)
#   make student               regenerate book/student/*.ipynb (then commit)
#   make student-release DEST=.. REPO=owner/name   a student release for a public repository
#   make autograder            Gradescope autograder archives, one per chapter -> _build/autograder/

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
EDITION ?= $(or $(RESNETBOOK_EDITION),instructor)

ifeq ($(EDITION),instructor)
BOOK_OUT := .
else ifeq ($(EDITION),student)
BOOK_OUT := _build/student
else
$(error EDITION must be "instructor" or "student", not "$(EDITION)")
endif

# Idle OpenMP threads that spin slow PyTorch 2-10x when the 2 cores are shared
# (measured: a training step 287 ms -> 116 ms under load). Kernels inherit it.
export OMP_WAIT_POLICY ?= PASSIVE
# Bytecode: uv installs no .pyc files, and where PYTHONDONTWRITEBYTECODE is set (as on this
# project's machines) every Python process would compile torch's modules again (measured:
# importing torch, torchvision, matplotlib, myst_nb and the package took 10-16 s, 4-5 s
# with bytecode). Python writes it at first import instead, under .venv/pycache, not
# into the source tree; each chapter's kernel and each test process reuses it.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/$(VENV)/pycache
# No progress bars in what the build executes (resnetbook.progress reads it): nobody
# watches them, and their widgets would reach the pages. In Jupyter and Colab they show.
export TQDM_DISABLE ?= 1

.PHONY: book test bench standins setup data browser student student-release autograder outputs clean

NPM_STAMP := node_modules/.installed

setup: $(STAMP) $(NPM_STAMP) data

# The virtual environment: rebuilt only when the requirements change. uv installs them,
# configured as the machine's pip is (pip where uv cannot be had; see the script).
$(STAMP): requirements.txt code/pyproject.toml book/_ext/pyproject.toml scripts/install_requirements.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/install_requirements.py $(PY) requirements.txt
	touch $@

# What the site serves from npm (ONNX Runtime Web, chapter 7), exactly as package-lock.json
# pins it; reinstalled only when the lockfile changes. No install scripts run. Debian's npm
# is installed where apt-get is usable; otherwise a missing npm stops here with what to do.
$(NPM_STAMP): package.json package-lock.json
	@bash scripts/provision.sh npm
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js and npm (Debian: apt-get install npm), then run make again"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# FashionMNIST from Debian's package where apt-get is usable; otherwise the
# package downloads it on first use (see resnetbook/data.py).
data:
	@bash scripts/provision.sh data

# Debian's chromium for tests/test_site.py and tests/test_handin.py, unless RESNETBOOK_CHROMIUM
# names another browser (the GitHub workflow uses Playwright's own build); poppler-utils
# (pdftotext, pdfimages) reads the hand-in PDFs back in tests/test_handin.py.
browser:
	@if [ -z "$$RESNETBOOK_CHROMIUM" ]; then bash scripts/provision.sh browser; fi
	@bash scripts/provision.sh poppler

# Both editions share one execution cache (_build/.jupyter_cache): executing a
# chapter does not depend on the edition, so the key is computed without it.
# execute_chapters.py fills the cache two chapters at a time; Jupyter Book then renders.
book: setup
	$(PY) scripts/cache_key.py _build/.jupyter_cache
	$(PY) scripts/execute_chapters.py _build/.jupyter_cache
	RESNETBOOK_EDITION=$(EDITION) $(VENV)/bin/jupyter-book build . --path-output $(BOOK_OUT) --builder html --keep-going -W
	@echo "Site built ($(EDITION) edition): $(BOOK_OUT)/_build/html/index.html"

# pytest.ini: tests/, which compare the build's execution of the chapters with their stored outputs.
test: setup browser
	$(MAKE) --no-print-directory book EDITION=instructor
	$(MAKE) --no-print-directory book EDITION=student
	$(PY) -m pytest

student: setup
	$(PY) scripts/student_edition.py

# A self-contained student release for a public repository (see README):
#   make student-release DEST=../resnet-student REPO=course-org/resnet-student
student-release: setup
	@if [ -z "$(DEST)" ] || [ -z "$(REPO)" ]; then \
	  echo "usage: make student-release DEST=<empty folder> REPO=<owner/name on GitHub>"; exit 2; fi
	$(PY) scripts/student_edition.py --release "$(DEST)" --repo "$(REPO)"

# One Gradescope autograder archive (otter-grader) per chapter with checked exercises (see README).
autograder: setup
	$(PY) scripts/autograder.py --out _build/autograder

outputs: setup
	$(PY) scripts/refresh_outputs.py
	$(PY) scripts/student_edition.py

# Benchmarks belong on a quiet machine, where OpenMP's default (threads spin a moment
# before they sleep) trains 10-35% faster than PASSIVE (measured); the engine and the
# baseline run in one process, so both get it.
bench: setup
	env -u OMP_WAIT_POLICY $(PY) benchmarks/bench_train.py

# Both stand-ins by default; `make standins STANDIN=detector` (or classifier) retrains one.
STANDIN ?= all
standins: setup
	$(PY) -m resnetbook.standins $(STANDIN)

clean:
	rm -rf _build
