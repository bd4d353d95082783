# The front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Python 3.10 (Rasa 3.6 supports nothing newer): found through pyenv even when it is not the
# default on PATH, else a system python3.10 that actually runs.
PYTHON310 ?= $(shell for p in "$$(pyenv root 2>/dev/null)"/versions/3.10.*/bin/python3.10 \
	"$$HOME"/.pyenv/versions/3.10.*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	[ -x "$$p" ] && "$$p" -c 'import sys' >/dev/null 2>&1 && { echo "$$p"; break; }; done; \
	PYENV_VERSION=3.10.13 python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null | head -n 1)
SPACY_SV := build/spacy_sv/meta.json
# Nothing leaves this machine: no Rasa telemetry, no error reports to Rasa's Sentry.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help install train run run-production bench-production bench-flood shell test eval bench lint content-status system-deps clean telegram-polling purge audit audit-verify

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@p="$(firstword $(PYTHON310))"; [ -n "$$p" ] || { echo "Python 3.10 not found (pyenv install 3.10.13)"; exit 1; }; \
	  [ -x $(PY) ] || "$$p" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<27"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP) $(SPACY_SV) ## Create .venv and install the pinned dependencies

$(SPACY_SV): $(STAMP) bot/nlu/build_spacy.py bot/nlu/lemmas.py
	$(PY) -m bot.nlu.build_spacy build/spacy_sv

train: install ## Train the model when the training data changed (and only then)
	$(PY) -m bot.train

# The chat widget (widget/): `npm ci` when the lock file changed, esbuild when a source changed.
# The output (bot/console/static/widget/widget.js) is git-ignored: built here, from the lock file.
WIDGET_JS    := bot/console/static/widget/widget.js
WIDGET_STAMP := widget/node_modules/.installed
WIDGET_SRC   := $(wildcard widget/src/*) widget/build.mjs

.PHONY: widget
widget: $(WIDGET_JS) ## Build the chat widget when its sources or lock file changed

$(WIDGET_STAMP): widget/package.json widget/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: the widget needs Node.js 18+ and npm"; exit 1; }
	cd widget && npm ci --no-audit --no-fund
	@touch $@

$(WIDGET_JS): $(WIDGET_STAMP) $(WIDGET_SRC)
	cd widget && npm run build

run: train widget ## Start action server, Rasa (REST + socket.io) and the console; Ctrl-C stops all
	$(PY) -m bot.run

run-production: train widget system-deps ## The production profile: PostgreSQL, Redis, RabbitMQ, 2 Rasa servers behind nginx
	PROFILE=production $(PY) -m bot.run

bench-production: train system-deps ## Load in the production profile: 50 conversations, REST + socket.io, 1 and 2 Rasa servers
	$(PY) -m bot.bench_production

bench-flood: train system-deps ## One flooding client beside 20 people (production profile): their p95 with and without it
	$(PY) -m bot.bench_production --flood --users 20 --seconds 180 --rounds 6 --servers 2

shell: train ## Chat with the assistant in the terminal
	$(PY) -m bot.run --shell

telegram-polling: install ## Telegram without a public address: poll the Bot API (needs `make run` and TELEGRAM_BOT_TOKEN)
	$(PY) -m bot.channels.telegram poll

system-deps: ## Debian packages the browser tests need (chromium) and the production profile's nginx
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx for the production profile (run by bot/run.py, not as a service)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; }

test: train system-deps widget audit ## Everything: unit, content, conversation, NLU accuracy, end-to-end
	$(PY) -m pytest -q -p no:cacheprovider

audit: install ## Known vulnerabilities in the installed packages (pip-audit in build/audit-venv): reported, never failing
	$(PY) -m bot.privacy.audit

purge: install ## Delete conversations past the retention period now (RETENTION_DAYS, default 30)
	$(PY) -m bot.store.retention purge

audit-verify: install ## Check the console's audit log: its hash chain and append-only triggers (exit 1 if broken)
	$(PY) -m bot.console audit-verify

eval: train ## NLU accuracy, macro-F1 and confusions per language on the held-out split
	$(PY) -m bot.nlu.evaluate

bench: train ## Latency, throughput, memory and startup over REST, action server in the path
	$(PY) -m bot.bench $(ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check bot actions tests

content-status: install ## Texts still waiting for a native speaker's review
	$(PY) -m bot.content status

clean: ## Remove build output and trained models (keeps var/)
	rm -rf build models .pytest_cache
