# Everything a fresh Debian machine needs, in two commands: `make quickstart` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SHARED ?= ../shared/data
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: quickstart test test-fast lint data wordnet gcide foldoc chromium install clean

COHESIVE := $(VENV)/bin/cohesive

# The main job on the offline default: the shipped WSD model tags a sentence and is scored on the
# framework (no training), then small budgets of the rest: WSD baselines, teachers -> cache -> the
# four-way distillation comparison (plot in results/quickstart/compare.png), a small LMGC-M
# fine-tune of MiniLM scored on SemEval-2007, a GLUE check, and the machine-paraphrase pipeline
# (corpus -> detectors -> cell-wise evaluation), ending with the shipped detector's HTML report
# on a sample document.
quickstart: install wordnet gcide data
	$(COHESIVE) wsd tag "She deposited her salary at the bank, then sat on the bank of the river."
	$(COHESIVE) wsd evaluate --datasets SE07 ALL --output-dir results/quickstart/wsd-shipped
	$(COHESIVE) run --config configs/cohesive_quick.yaml
	$(COHESIVE) detect examples/sample_document.txt --html results/quickstart/sample_document.html

test: install wordnet gcide chromium data lint
	$(PY) -m pytest -q

test-fast: install wordnet gcide chromium data
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

install: $(VENV)/.installed

# torch is pinned here (a CPU wheel lies on these machines; a looser range pulls a multi-GB CUDA build);
# the package itself only asks for torch>=2.3.
$(VENV)/.installed: pyproject.toml
	$(PY) -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV) \
	  || { $(SUDO) apt-get install -y -qq python3-venv && python3 -m venv --clear $(VENV); }
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

# WordNet 3.0 from Debian when no copy is found (explicit $$WORDNET_DIR, NLTK data, /usr/share/wordnet).
wordnet: install
	@$(PY) -c "from cohesive.lexicon.locate import main; raise SystemExit(main())" >/dev/null 2>&1 || { \
	  echo "WordNet not found: installing Debian's wordnet-base wordnet-sense-index"; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index \
	  || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index; }; }
	@$(PY) -c "from cohesive.lexicon.locate import main; raise SystemExit(main())"

# Debian's GCIDE dictionary: one of the offline text domains (teachers, paraphrase corpus).
gcide: install
	@$(PY) -c "from cohesive.corpora.text import gcide_path; gcide_path()" 2>/dev/null \
	  || $(SUDO) apt-get install -y -qq --no-install-recommends dict-gcide \
	  || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends dict-gcide; }

# Debian's headless browser and its WebDriver: the browser test of `cohesive serve`'s page.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver \
	  || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# Debian's FOLDOC dictionary: a held-out test domain of the cross-domain paraphrase corpus
# (configs/paraphrase/build_xdomain.yaml); nothing in quickstart or the tests needs it.
foldoc:
	@[ -e /usr/share/dictd/foldoc.dict.dz ] || $(SUDO) apt-get install -y -qq --no-install-recommends dict-foldoc \
	  || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends dict-foldoc; }

# ./data -> ../shared/data when present; otherwise say where to get the data.
data:
	@if [ -n "$$COHESIVE_DATA" ] || [ -e data ]; then :; \
	elif [ -d $(SHARED) ]; then ln -s $(SHARED) data && echo "linked ./data -> $(SHARED)"; \
	else cat docs/DATA.md; exit 2; fi

clean:
	rm -rf $(VENV) runs build src/*.egg-info
