# Two commands do everything: `make run` (the main job on the bundled data) and `make test`;
# `make docs` builds the book (build/site/).
# Both create .venv on first use and reinstall when pyproject.toml changes.
# The interpreter: the distribution's /usr/bin/python3 when it is 3.11 or newer and can make a
# venv, else the first python3 on PATH (override: make PYTHON=...). The distribution's build
# runs the benchmarks about 15% faster than a shared-library build such as pyenv's default;
# `pushinject bench core` prints which interpreter ran it.
PYTHON ?= $(or $(shell for p in /usr/bin/python3 python3; do \
	"$$p" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' \
	>/dev/null 2>&1 && { echo "$$p"; break; }; done),python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pushinject check data/kamailio/*.pcap
	$(BIN)/pushinject check --preset kamailio-tsilo --knob fr_timeout=8 --knob fr_inv_timeout=10 \
		data/kamailio/*.pcap
	$(BIN)/pushinject check --preset kamailio-tsilo data/kamailio/timers/*.pcap
	$(BIN)/pushinject check --preset kamailio-tsilo --knob fr_timeout=8 --knob fr_inv_timeout=10 \
		data/kamailio/load/*.pcap data/kamailio/load/loss/*.pcap
	$(BIN)/pushinject check --preset opensips data/opensips/*.pcap data/opensips/timers/*.pcap
	$(BIN)/pushinject check --preset opensips data/opensips/load/*.pcap data/opensips/load/loss/*.pcap
	for preset in opensips kamailio-tsilo rfc8599; do \
		$(BIN)/pushinject check --preset $$preset data/simulated/$$preset/*.pcap || exit $$?; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest --nbval --doctest-modules pushinject tests notebooks

# The book: a static HTML site made from the notebooks' stored outputs (nothing is executed),
# the glossary, the rule catalogue and the API; open build/site/index.html.
docs: $(STAMP)
	$(BIN)/sphinx-build -q -b html -c docs -d build/doctrees -W --keep-going . build/site

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
