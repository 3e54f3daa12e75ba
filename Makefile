# Two commands from a fresh machine:
#   make run    set up what running needs, prepare WordNet, train, write a run directory
#   make test   the same plus what only the tests use (PostgreSQL, Chromium), then every test (unit, WordNet,
#               notebooks, browser, PostgreSQL)
# and for the edit-test loop:
#   make test-fast   the unit tests that need no WordNet, notebook, browser, PostgreSQL or GPU, and none of the
#                    slow ones that run whole processes (about a minute)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
GRAPH  ?= data/wordnet_training
# the seed's aggressive recipe with a cosine decay over 25 epochs, the default objective (graded), then the
# sparse overcomplete code of the trained vectors: the run that meets the most of the quality goals, each
# readability figure measured against a random rotation (docs/quality.md)
RUN_ARGS ?= --preset aggressive --lr-schedule cosine --epochs 25 --stage sparse-code
export TQDM_DISABLE ?= $(if $(CI),1,)

.PHONY: setup wordnet postgresql browser graph run run-args test test-fast bench lab screenshot clean

setup: $(VENV)/.installed wordnet postgresql browser

# torch first, pinned: a later, looser requirement then installs nothing more. Stock Debian's python3 has no
# venv module until python3-venv is installed (as root with apt; elsewhere venv's own error says so)
$(VENV)/.installed: pyproject.toml
	@if ! $(PYTHON) -c "import ensurepip, venv" >/dev/null 2>&1 \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# offline machines: Debian's WordNet 3.0 (root + apt only; elsewhere prepare-wordnet says what to do)
wordnet:
	@if [ ! -f /usr/share/wordnet/data.noun ] && [ ! -d $$HOME/nltk_data/corpora/wordnet ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's wordnet-base + wordnet-sense-index"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null; \
	fi

# the search tests start a real PostgreSQL server (as root with apt-get only; elsewhere they skip, in CI they fail)
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# the real-browser test (tests/test_browser.py): Playwright's Python API driving Debian's chromium
# (never `playwright install`, which downloads browsers); apt only as root, like `wordnet`
browser: $(VENV)/.installed
	$(BIN)/python -m pip install -q playwright
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

graph: $(VENV)/.installed wordnet $(GRAPH)/manifest.json
$(GRAPH)/manifest.json:
	$(BIN)/python -m naomi_nb prepare-wordnet --output $(GRAPH)

run: graph
	$(BIN)/python -m naomi_nb train --training-data $(GRAPH) $(RUN_ARGS)

# the main job's flags, for tools/gpu_check.sh
run-args:
	@echo $(RUN_ARGS)

# the default runs and data directories point into a temporary directory, so nothing lands in runs/ or data/
# (tests/conftest.py does the same inside pytest; set here too, they reach the notebook kernels in any case)
test: graph postgresql browser
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  NAOMI_NB_RUNS=$$tmp/runs NAOMI_NB_DATA=$$tmp/data \
	  $(BIN)/python -m pytest tests --nbmake notebooks --nbmake-timeout=1200 -p no:cacheprovider

FAST := not wordnet and not notebooks and not browser and not postgres and not gpu and not slow
test-fast: $(VENV)/.installed
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  NAOMI_NB_RUNS=$$tmp/runs NAOMI_NB_DATA=$$tmp/data \
	  $(BIN)/python -m pytest tests -m "$(FAST)" -q -p no:cacheprovider

bench: graph
	$(BIN)/python -m naomi_nb bench --training-data $(GRAPH)

# docs/dashboard.png from a real short run on the mammal subgraph
screenshot: $(VENV)/.installed wordnet
	$(BIN)/python -m naomi_nb.screenshot docs/dashboard.png

# JupyterLab refuses to start as root (a container's or Colab-like machine's only user) without --allow-root
lab: $(VENV)/.installed wordnet
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

clean:
	rm -rf $(VENV) runs build *.egg-info
