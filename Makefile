# The two commands a new user needs, each doing its own set-up:
#   make demo   — a call to the built-in simulator, no account needed
#   make test   — the whole test suite (lint included)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
DEBS := libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox systemd libseccomp2

.PHONY: demo test deps venv lint bench clean

deps:
	@missing=""; \
	for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "please install:$$missing (no apt-get here)"; exit 1; fi; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: deps $(STAMP)

demo: venv
	$(VENV)/bin/vapi-bridge demo $(ARGS)

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
