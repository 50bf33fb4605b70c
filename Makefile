# The two commands a new user needs, each doing its own set-up:
#   make demo   — a call to the built-in simulator, no account needed: PortAudio and the
#                 package with its simulator extra, nothing else
#   make test   — the whole test suite (lint included), with the test stack: a private
#                 PulseAudio, sox, espeak-ng, systemd's tools, chromium and Playwright,
#                 livekit, hypothesis, ruff
#   make test-floors — the unit, network, call-path, device-listing and echo (AEC) tests with
#                 every dependency at exactly its declared floor (pyproject.toml), in a
#                 second venv
SHELL := /bin/bash
# Python writes its bytecode caches here even where the environment says not to: the venvs
# are installed --no-compile (below), so with PYTHONDONTWRITEBYTECODE set every process
# compiled every module it imported from source, every time: each `vapi-bridge` process the
# tests start (importing bridge, numpy, websockets, httpx: 1.5 s of CPU instead of 0.6 s),
# each xdist worker's collection (19 s instead of 6 s; pytest's assertion rewriting was not
# cached either). 2026-12-06, on this machine beside other helpers, 36 tests of the CLI,
# control and init at -n 2: 148-170 s and 67-77 s of CPU; with the caches 76-109 s and
# 36-40 s. The caches land in __pycache__ (git ignores them) and in the venvs.
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo
DEMO_DEBS := libportaudio2
FLOORS_VENV ?= .venv-floors
FLOORS_STAMP := $(FLOORS_VENV)/.installed
# Tests that measure audio timing through real devices or a real-time call run apart from
# the rest (SERIAL_TESTS, node-id prefixes; in three lanes, SERIAL_DIST); the rest (simulator, control, service, faults,
# CLI, …) mostly wait on subprocesses and sockets and run on PYTEST_WORKERS processes:
# 5 on 2 cores (2026-12-05, this stage alone on an idle 2-core machine: 277 s with 3, the
# processes' CPU 78 % of one core; 226 s with 4, 104 %; 180 s with 5, 122 %, one rerun;
# 2026-12-07: 4 took 631 s of a CI rehearsal's 20:28, its processes now compiling no
# module twice: Python's bytecode caches, below; later that day, with each vapi-bridge
# process's start 0.15 s of CPU cheaper and the wheel built once a session, 5 took 408 s,
# the machine 56-86 % busy, of a rehearsal's 16:10).
SERIAL_TESTS := tests/rig tests/devices tests/echo tests/e2e/test_fast_delivery.py \
  tests/e2e/test_recording.py tests/e2e/test_barge_in.py \
  tests/e2e/test_call_path.py::test_echo_call_round_trip \
  tests/e2e/test_turns.py::test_heard_gap_is_the_think_time_plus_the_playout \
  tests/control/test_standby_playout.py tests/control/test_operator_cuts.py \
  tests/faults/test_downlink_flood.py::test_a_flood_of_tiny_frames_does_not_cost_the_visitor_words \
  tests/control/test_check_beside_daemon.py::test_check_finds_the_system_units_daemon
# (the last: its daemon binds in /run/vapi-bridge, the unit's, where every `ctl` with no
# profile looks: beside it another test's ctl found "several daemons", 2 runs in 4 at -n 2)
PYTEST_WORKERS ?= 5
# The serial tests run in three lanes side by side (tests/conftest.py chooses each test's),
# each one test at a time: the rig modules that time real-time audio beside an echo path or
# a fast reply in one, the other rig modules in the second, the `file:` devices' real-time
# clock (no sound server, about a quarter of a core) in the third. On this machine, beside
# other helpers' tests (2026-12-06): two lanes 520-522 s (the second lane, the rig modules
# and then the clock's, 480-500 s of tests); three lanes 383 s, 1 rerun (the rig lane
# 370 s of tests, the others 260 and 334 s).
# SERIAL_DIST= runs them all one at a time (three times as long).
SERIAL_DIST ?= -n 3 --dist loadgroup
# A real-time audio test that fails is run again before it counts: on a 2-core machine
# the sound server itself sometimes glitches (its xruns are reported in the failure), more
# often with the lanes side by side. Three failures in a row fail the suite; each rerun
# is shown in pytest's summary (R).
SERIAL_RERUNS := --reruns 2 -rR
# As root beside a kiosk's system unit, the tests get a /run/vapi-bridge of their own
# (tests/isolated.sh), or none run and it says why: profile names such as frontdesk and
# kiosk meet the unit's socket.
ISOLATED := sh tests/isolated.sh
# One process imports every test module (pytest's assertion rewriting, then each module's
# imports: bridge, numpy, hypothesis, playwright, …; the venvs are installed --no-compile)
# and leaves its caches before the parallel phase's workers start: on a fresh clone the five
# workers each compiled all of it at once before any test could run (2026-12-07, the
# collection alone on this machine: 48-58 s cold, 16 + 14 s with this first; 4 s when
# already warm). Its errors are the real run's to show. It collects what ARGS narrows the
# phase to. (Not for the floors' phase: there it gave nothing, 36.6 s cold against 13 + 23 s.)
WARM_CACHES = $(VENV)/bin/pytest -q -p no:cacheprovider --collect-only $(ARGS) >/dev/null 2>&1 || true
# the slowest tests of each stage, printed after it: where CI's 20 minutes go
DURATIONS := --durations=15
# The parallel phase's tests start daemons, listeners and simulators as processes on the
# same 2 cores, against real-time calls: one that fails is run once more before it counts
# (a listener that joined a call late failed a rehearsal once). -rR lists what was rerun.
PARALLEL_RERUNS := --reruns 1 -rR
# and what failed before each rerun, where the venv's pytest-rerunfailures can show it (16.3
# on: `make test`'s venv; the floors' 14.0 cannot): a flake that passes on its rerun is
# otherwise a name without a cause
SHOW_RERUNS = $$($(VENV)/bin/pytest --help 2>/dev/null | grep -qe --rerun-show-tracebacks \
  && echo --rerun-show-tracebacks)
# at the floors: what calls each dependency's API (REST, socket, resampler, devices, AEC,
# the HTTP server and its metrics: aiohttp, prometheus-client)
FLOORS_PARALLEL := tests/unit tests/network tests/e2e/test_call_path.py tests/web/test_metrics.py
# (not: what a stalled link says, the bridge's own words on the socket's marks, ~15 s of the
# phase; test_link_stalls keeps the floors' ping and pong; nor the answers to an end Vapi
# says late or a say on a dead link, ~30 s: the bridge's own timing over the same calls)
# nor the property test of every message field (the bridge's own parsing and the standard
# library's json; at hypothesis's floor 48 s of CPU, five times as much as at its newest),
# nor the playout buffer's stateful property test (its own ring arithmetic on plain numpy
# arrays; 17 s of the phase's tests), nor the echo tests' own judge of re-timed speech
# (tests/rig/retiming: the tests' helper, no dependency of the bridge's; 42 s) nor of a reply
# followed piece by piece (tests/rig/heard.followed) (2026-12-07)
FLOORS_SKIP := tests/network/test_dead_link.py tests/network/test_end_answers.py \
  tests/unit/test_hostile_text.py::test_every_field_of_every_type_may_hold_anything \
  tests/unit/test_playout_stateful.py tests/unit/test_retiming.py tests/unit/test_followed.py
# (the real-time round trip at two of its four settings: the FIR with websockets and numpy
# at their floors, and soxr at its floor on a 44.1 kHz device; livekit's AEC at its floor is
# tests/unit/test_aec_unit.py's, in the parallel phase: the echo rig's two real-time calls,
# which held this phase at 36 s, run in `make test`)
FLOORS_SERIAL := 'tests/e2e/test_call_path.py::test_echo_call_round_trip[pcm_s16le-16000-48000]' \
  'tests/e2e/test_call_path.py::test_echo_call_round_trip[mulaw-8000-44100]' \
  tests/devices/test_devices_cli.py
# chromium: the kiosk screen's browser tests (tests/web, Playwright drives Debian's build;
# about 115 MB, some 25 s of apt on a fresh machine)
DEBS := libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox systemd libseccomp2 \
  chromium

.PHONY: demo test test-parallel test-serial test-floors test-floors-parallel test-floors-serial venvs deps demo-deps apt-install venv demo-venv lint bench clean

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

# --no-compile: pip would byte-compile every module it installs (scipy's thousands; about
# 12 s of CPU a venv); Python compiles the few the tests import when they first do (and keeps
# them: PYTHONDONTWRITEBYTECODE is not passed on, above).
# flock: an editable install writes vapi_bridge.egg-info into the tree; `make venvs` builds
# both venvs at once, so the two editable installs take turns (the floors' dependencies,
# installed first on their own, do not wait).
EDITABLE_LOCK := mkdir -p out && flock out/.editable.lock
# setuptools ends every editable install with a 10-line warning ("Editable installation.
# ... Please be careful with folders in your working directory with the same name as your
# package"), which pip shows: nothing a user of this checkout can act on (bridge/ is the
# package), and the first thing `make demo` printed. Only that warning is silenced (a
# UserWarning whose text starts so, in pip and its build backend); pip's own warnings and
# errors still show. The install stays editable: the stamps follow pyproject.toml only,
# so a copied install would run stale code after a `git pull`.
# (through env: after flock, a bare NAME=VALUE would be the command flock runs, and the
# install failed, exit 69: flock: failed to execute PYTHONWARNINGS=...)
QUIET_EDITABLE := env PYTHONWARNINGS='ignore:Editable installation.:UserWarning'
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(EDITABLE_LOCK) $(QUIET_EDITABLE) $(VENV)/bin/pip install -q -e '.[test]' --no-compile
	touch $@ $(DEMO_STAMP)

# the demo's venv: the package and its [sim] extra (a full test venv serves too)
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(QUIET_EDITABLE) $(VENV)/bin/pip install -q -e '.[sim]'
	touch $@

venv: deps $(STAMP)

$(FLOORS_STAMP): pyproject.toml .ci/floors.py
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/pip install -q --upgrade pip
	$(PYTHON) .ci/floors.py > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/pip install -q --no-compile -r $(FLOORS_VENV)/floors.txt
	$(EDITABLE_LOCK) $(QUIET_EDITABLE) $(FLOORS_VENV)/bin/pip install -q --no-compile \
	  -c $(FLOORS_VENV)/floors.txt -e '.[test]'
	touch $@

# CI's set-up: both venvs at once (pip mostly waits on downloads; they share pip's cache)
# and the Debian packages beside them (apt mostly waits on downloads too: chromium alone is
# ~115 MB; no venv's install needs one of them, only python3-venv where Python lacks
# ensurepip, installed first): on a fresh machine the packages came first, then the venvs
venvs:
	@$(MAKE) --no-print-directory apt-install PKGS=
	@$(MAKE) --no-print-directory -j3 deps $(STAMP) $(FLOORS_STAMP)

test-floors: deps $(FLOORS_STAMP)
ifdef ARGS
	$(ISOLATED) $(FLOORS_VENV)/bin/pytest -q -p no:cacheprovider $(ARGS)
else
	@$(MAKE) --no-print-directory test-floors-parallel
	@$(MAKE) --no-print-directory test-floors-serial
endif

# test-floors' two phases by name
test-floors-parallel: deps $(FLOORS_STAMP)
	@echo "dependency floors:"; sed 's/^/  /' $(FLOORS_VENV)/floors.txt
	$(ISOLATED) $(FLOORS_VENV)/bin/pytest -q -p no:cacheprovider $(PARALLEL_RERUNS) -n $(PYTEST_WORKERS) \
	  $(SERIAL_TESTS:%=--deselect=%) $(FLOORS_SKIP:%=--deselect=%) $(FLOORS_PARALLEL) $(ARGS)

test-floors-serial: deps $(FLOORS_STAMP)
	$(ISOLATED) $(FLOORS_VENV)/bin/pytest -q -p no:cacheprovider $(SERIAL_RERUNS) $(SERIAL_DIST) \
	  $(FLOORS_SERIAL) $(ARGS)

demo-venv: demo-deps $(DEMO_STAMP)

demo: demo-venv
	$(VENV)/bin/vapi-bridge demo $(ARGS)

test: venv
ifdef ARGS
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(ISOLATED) $(VENV)/bin/pytest -q $(ARGS)
else
	@$(MAKE) --no-print-directory test-parallel
	@$(MAKE) --no-print-directory test-serial
endif

# make test's two phases by name: the lint and the tests that mostly wait on processes and
# sockets, on PYTEST_WORKERS processes; then the real-time audio tests in their lanes.
# ARGS (here and in test-floors-parallel/-serial): more pytest arguments for the phase, after
# its own: -x, --lf, -k EXPR narrow it; a path narrows test-parallel to its tests, and adds
# its tests to the phases that name theirs (`make test ARGS=PATH` runs a path alone).
# Before, the phases took no ARGS: `make test-parallel ARGS=-x` ran the whole phase.
test-parallel: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(WARM_CACHES)
	$(ISOLATED) $(VENV)/bin/pytest -q $(PARALLEL_RERUNS) $(SHOW_RERUNS) $(DURATIONS) -n $(PYTEST_WORKERS) \
	  $(SERIAL_TESTS:%=--deselect=%) $(ARGS)

test-serial: venv
	$(ISOLATED) $(VENV)/bin/pytest -q $(SERIAL_RERUNS) $(SHOW_RERUNS) $(DURATIONS) $(SERIAL_DIST) $(SERIAL_TESTS) \
	  $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# make bench: every benchmark once, with settings short enough for about 4 minutes together
# on the 2-core CI machine (soak 10 calls instead of 200, one latency call per wire format,
# jitter's robustness cases only at 6 s a call, …). docs/performance.md gives the longer
# commands its figures come from. pipecat_path.py is Pipecat's half of pipeline_cpu.py, run
# by it in Pipecat's own venv (made once in out/pipecat-venv, about 40 s).
BENCHES := resample pipeline_cpu device_floors redact echo recording_loop bargein jitter latency soak \
  wake_word wake_accuracy process_cpu wake_cost echo_visitor parse_cost
BENCH_ARGS_redact := --calls 2000
BENCH_ARGS_recording_loop := --seconds 2
BENCH_ARGS_bargein := --runs 1
BENCH_ARGS_jitter := --only jitter --seconds 4
BENCH_ARGS_latency := --calls 1 --chunking frames --beeps 12
BENCH_ARGS_soak := --calls 6
BENCH_ARGS_wake_word := --seconds 3
BENCH_ARGS_wake_accuracy := --voices 1
BENCH_ARGS_process_cpu := --seconds 6 --strace-seconds 3
BENCH_ARGS_wake_cost := --reps 100
BENCH_ARGS_device_floors := --seconds 2 --rounds 1 --warmup 1
BENCH_ARGS_echo_visitor := --phrases 2 --rooms 1
BENCH_ARGS_parse_cost := --runs 5

bench: venv
	@for b in benchmarks/*.py; do n=$$(basename $$b .py); \
	  case " $(BENCHES) pipecat_path " in *" $$n "*) ;; \
	    *) echo "$$b is not in the Makefile's BENCHES"; exit 1;; esac; done
	@$(foreach n,$(BENCHES),echo "== benchmarks/$(n).py $(BENCH_ARGS_$(n))" && \
	  time $(VENV)/bin/python benchmarks/$(n).py $(BENCH_ARGS_$(n)) && ) true

clean:
	rm -rf $(VENV) $(FLOORS_VENV) out .pytest_cache .ruff_cache
