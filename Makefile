# Two entry points, both self-installing on a fresh machine (Python 3.11+ and make are all they need):
#   make run   — the embedded stack (broker, registry, worker) on the sample data, showing the statements
#   make test  — lint, type checks and the whole test suite (what CI runs); installs the test LRS (Ralph) and
#                Tutor with the repository's Tutor plugin first
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Ralph (the test LRS) pins click, cachetools and httpx below our versions: it gets a virtualenv of its own.
RALPH_VENV := .venv-ralph
RALPH_STAMP := $(RALPH_VENV)/.installed

$(RALPH_STAMP):
	$(PY) -m venv $(RALPH_VENV)
	$(RALPH_VENV)/bin/pip install --quiet --upgrade pip
	$(RALPH_VENV)/bin/pip install --quiet 'ralph-malph[cli,lrs]==5.1.0' requests
	touch $(RALPH_STAMP)

# Tutor (the tests of the Tutor plugin render with the real package) pins its own click and jinja2: a virtualenv
# of its own too, with the plugin built and installed from tutor-plugin/ (reinstalled whenever a file of it changes).
TUTOR_VENV := .venv-tutor
TUTOR_STAMP := $(TUTOR_VENV)/.installed
TUTOR_PLUGIN_STAMP := $(TUTOR_VENV)/.plugin-installed
TUTOR_PLUGIN_FILES := $(shell find tutor-plugin -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*' \
                        -not -path 'tutor-plugin/build/*')

$(TUTOR_STAMP):
	$(PY) -m venv $(TUTOR_VENV)
	$(TUTOR_VENV)/bin/pip install --quiet --upgrade pip
	$(TUTOR_VENV)/bin/pip install --quiet 'tutor==22.0.3'
	touch $(TUTOR_STAMP)

$(TUTOR_PLUGIN_STAMP): $(TUTOR_STAMP) $(TUTOR_PLUGIN_FILES)
	$(TUTOR_VENV)/bin/pip install --quiet --force-reinstall --no-deps ./tutor-plugin
	rm -rf tutor-plugin/build
	touch $(TUTOR_PLUGIN_STAMP)

.PHONY: install ralph tutor tutor-plugin-names run test lint bench
install: $(STAMP)

ralph: $(RALPH_STAMP)

tutor: $(TUTOR_PLUGIN_STAMP)

# Regenerate the plugin's list of event names for the LMS's EVENT_BUS_TRACKING_LOGS from the default allow lists.
tutor-plugin-names: $(STAMP)
	$(BIN)/python -m tests.tutor.names > tutor-plugin/tutorstreamapp/event_bus_tracking_logs.txt

run: $(STAMP) $(RALPH_STAMP)
	$(BIN)/stream-app dev

lint: $(STAMP)
	$(BIN)/ruff check stream_app tests benchmarks tutor-plugin
	$(BIN)/mypy

test: lint $(RALPH_STAMP) $(TUTOR_PLUGIN_STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.transform --write
