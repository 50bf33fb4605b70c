# The two commands a new user needs, each doing its own set-up:
#   make demo   — a call to the built-in simulator, no account needed: PortAudio and the
#                 package with its simulator extra, nothing else
#   make test   — the whole test suite (lint included), with the test stack: a private
#                 PulseAudio, sox, espeak-ng, systemd's tools, livekit, hypothesis, ruff
#   make test-floors — the unit, end-to-end, network, device-listing and echo tests with
#                 every dependency at exactly its declared floor (pyproject.toml), in a
#                 second venv
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo
DEMO_DEBS := libportaudio2
FLOORS_VENV ?= .venv-floors
FLOORS_STAMP := $(FLOORS_VENV)/.installed
FLOORS_TESTS ?= tests/unit tests/e2e tests/network tests/devices/test_devices_cli.py tests/echo
DEBS := libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox systemd libseccomp2

.PHONY: demo test test-floors deps demo-deps apt-install venv demo-venv lint bench clean

deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEBS)"

demo-deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEMO_DEBS)"

apt-install:
	@missing=""; \
	for p in $(PKGS); do \
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
	touch $@ $(DEMO_STAMP)

# the demo's venv: the package and its [sim] extra (a full test venv serves too)
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[sim]'
	touch $@

venv: deps $(STAMP)

$(FLOORS_STAMP): pyproject.toml .ci/floors.py
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/pip install -q --upgrade pip
	$(PYTHON) .ci/floors.py > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/pip install -q -c $(FLOORS_VENV)/floors.txt -e '.[test]'
	touch $@

test-floors: deps $(FLOORS_STAMP)
	@echo "dependency floors:"; sed 's/^/  /' $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/pytest -q -p no:cacheprovider $(FLOORS_TESTS) $(ARGS)

demo-venv: demo-deps $(DEMO_STAMP)

demo: demo-venv
	$(VENV)/bin/vapi-bridge demo $(ARGS)

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(FLOORS_VENV) out .pytest_cache .ruff_cache
