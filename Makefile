# The two commands: `make run` and `make test`. Everything else is optional.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test install install-dev lint check-content serve bench bench-taps bench-export bench-vacuum audit translations

$(PY):
	python3 -m venv $(VENV)

# requirements*.txt pin every package, transitive ones too, with hashes: pip refuses anything else (README "Dependencies").
$(STAMP): requirements.txt | $(PY)
	$(PIP) install -q --require-hashes -r requirements.txt
	touch $@

$(DEVSTAMP): requirements.txt requirements-dev.txt package.json package-lock.json | $(PY)
	$(PIP) install -q --require-hashes -r requirements-dev.txt
	npm ci --silent --no-audit --no-fund
	touch $@

# The interface text's catalogs (translations/*/LC_MESSAGES/messages.po) compiled to .mo, which git does not keep.
install: $(STAMP)
	$(VENV)/bin/pybabel -q compile -d translations

install-dev: $(DEVSTAMP)
	$(VENV)/bin/pybabel -q compile -d translations

## After changing interface text in templates or Python: re-extract translations/messages.pot and merge it into each
## language's messages.po; prints the messages still missing or fuzzy (README "Translations").
translations: install-dev
	$(PY) -m clinic.catalogs update

## Serve the site on http://127.0.0.1:5000 with embedded defaults (SQLite and mail folder under instance/).
run: install
	$(VENV)/bin/flask --app app db upgrade
	$(VENV)/bin/flask --app app run --host 127.0.0.1 --port 5000

## The whole suite: unit, integration, browser (Chromium) and static checks.
test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -q -c pyproject.toml -r app.py blueprints clinic
	$(VENV)/bin/python -m pytest

check-content: install
	$(PY) -m clinic.journey content

## Production serving: gunicorn with gunicorn.conf.py on 127.0.0.1:8000 (GUNICORN_BIND=... to change), production mode.
serve: install
	FLASK_PRODUCTION=1 $(VENV)/bin/flask --app app db upgrade
	FLASK_PRODUCTION=1 $(VENV)/bin/gunicorn --config gunicorn.conf.py

## Speed figures (not part of `make test`): gunicorn + wrk on loopback and in-process against bare Flask, on SQLite
## and a throwaway PostgreSQL in one run (ARGS="--databases sqlite" for SQLite alone); ARGS="--write docs/performance.md" to record them.
bench: install-dev
	$(PY) scripts/bench.py $(ARGS)

## Tap to next step on emulated slow 4G in Chromium through gunicorn: requests per answer and median ms, JS on and off.
bench-taps: install-dev
	$(PY) scripts/bench_taps.py $(ARGS)

## A 30,000-request CSV export through gunicorn while a patient posts: post times alone and during it, worker memory.
bench-export: install-dev
	$(PY) scripts/bench_export.py $(ARGS)

## How long the database server's nightly VACUUM FULL (deploy/fbss-db-vacuum.service) holds each patient table, 30,000 requests.
bench-vacuum: install-dev
	$(PY) scripts/vacuum_full_time.py $(ARGS)

## Lighthouse (mobile) on the start page, a question step and the request page; prints the four category scores.
audit: install-dev
	scripts/audit.sh

.PHONY: soak audit-deps lock

## Load with a crash (not part of `make test`): gunicorn, hundreds of concurrent requests, one worker SIGKILLed; prints what was lost (0).
## ARGS="--hosts 2": two gunicorn hosts behind nginx on PostgreSQL and Redis, one whole host SIGKILLed and started again.
soak: install-dev
	$(PY) scripts/soak.py $(ARGS)

## Known vulnerabilities in everything installed in the project's venv, transitive dependencies included
## (needs the network, so not part of `make test`). pip-audit lives in its own venv so it never changes the project's.
AUDIT_VENV ?= .venv-audit
audit-deps: install-dev
	test -x $(AUDIT_VENV)/bin/pip-audit || (python3 -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install -q pip-audit==2.10.1)
	$(AUDIT_VENV)/bin/pip-audit --strict --path $(wildcard $(VENV)/lib/python3*/site-packages)

## After editing requirements.in or requirements-dev.in: pin every dependency with hashes into requirements.txt and
## requirements-dev.txt (needs the network; pins already there are kept unless ARGS="--upgrade-package NAME").
## uv lives in its own venv so it never changes the project's.
TOOLS_VENV ?= .venv-tools
UV_COMPILE = $(TOOLS_VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 --annotation-style line
lock:
	test -x $(TOOLS_VENV)/bin/uv || (python3 -m venv $(TOOLS_VENV) && $(TOOLS_VENV)/bin/pip install -q uv==0.13.8)
	$(UV_COMPILE) $(ARGS) requirements.in -o requirements.txt
	$(UV_COMPILE) $(ARGS) requirements-dev.in --constraint requirements.txt -o requirements-dev.txt
