# Everything a fresh Debian machine needs, in two commands: `make quickstart` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SHARED ?= ../shared/data
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: quickstart test test-fast data wordnet install clean

COHESIVE := $(VENV)/bin/cohesive

# The main job on the offline default, small budgets: WSD baselines, teachers -> cache -> the
# four-way distillation comparison (plot in results/quickstart/compare.png), then a small LMGC-M
# fine-tune of MiniLM scored on SemEval-2007.
quickstart: install wordnet data
	$(COHESIVE) wsd evaluate --config configs/wsd_baselines.yaml
	$(COHESIVE) teachers build --config configs/quickstart/teachers.yaml
	$(COHESIVE) distill cache --config configs/quickstart/distill_cache.yaml
	$(COHESIVE) distill compare --config configs/quickstart/distill_compare.yaml
	$(COHESIVE) wsd train --config configs/lmgc_quick.yaml

test: install wordnet data
	$(PY) -m pytest -q

test-fast: install wordnet data
	$(PY) -m pytest -q -m "not slow"

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

# ./data -> ../shared/data when present; otherwise say where to get the data.
data:
	@if [ -n "$$COHESIVE_DATA" ] || [ -e data ]; then :; \
	elif [ -d $(SHARED) ]; then ln -s $(SHARED) data && echo "linked ./data -> $(SHARED)"; \
	else cat docs/DATA.md; exit 2; fi

clean:
	rm -rf $(VENV) runs build src/*.egg-info
