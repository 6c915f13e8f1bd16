# make run   — set up .venv, migrate, load the demo, start the server on 127.0.0.1:8000
# make test  — the whole test suite (SQLite; DATABASE_URL=postgres://... for PostgreSQL)
# make lint  — ruff
# make bench — the benchmark (bench/RESULTS.md)
# make bench-log — the prediction log at 1M and 10M rows on PostgreSQL (bench/LOG-RESULTS.md)
# make docs  — the documentation site (docs/, mkdocs.yml) at http://127.0.0.1:8001/

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format setup venv clean bench bench-log worker docs

$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed-run
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# A local .env with a fresh random secret key, for development only.
.env:
	@echo "DJANGO_DEBUG=true" > .env
	@echo "DJANGO_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env
	@echo "wrote .env (development settings; see .env.example)"

setup: $(VENV)/.installed-run .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py compile_models
	$(PY) manage.py ensure_admin

run: setup
	@echo ""
	@echo "mlsite: http://$(HOST):$(PORT)/   admin: http://$(HOST):$(PORT)/admin/   API: http://$(HOST):$(PORT)/api/"
	@echo "API docs (try every endpoint): http://$(HOST):$(PORT)/api/docs/"
	@echo ""
	@echo "Training jobs run in a worker process beside the server (manage.py run_worker)."
	$(PY) manage.py run_worker & WORKER=$$!; trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST):$(PORT)

# A job worker alone, e.g. on another machine sharing the database: manage.py run_worker
# (TRAINING_BACKEND=db, the default) or a Celery worker (TRAINING_BACKEND=celery).
worker: $(VENV)/.installed-run
	@if [ "$$TRAINING_BACKEND" = "celery" ] || grep -qs '^TRAINING_BACKEND=celery' .env; then \
	  $(VENV)/bin/celery -A mlsite worker --loglevel=INFO; \
	else $(PY) manage.py run_worker; fi

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The service (gunicorn, production settings) against plain Flask and raw predict; writes
# bench/RESULTS.md. SQLite unless DATABASE_URL names a PostgreSQL server.
# BENCH_ARGS=--overrides: each override of mlsite/perf.py switched off alone against the
# baseline, interleaved, and the threads a worker (about 15 minutes; bench/RESULTS.md).
bench: $(VENV)/.installed-dev
	$(PY) bench/run.py $(BENCH_ARGS)

# Needs DATABASE_URL=postgres://… (a database named after it with _logbench is made anew).
bench-log: $(VENV)/.installed-dev
	$(PY) bench/log_bench.py $(BENCH_ARGS)

# The manual (docs/, mkdocs.yml), rebuilt on every change; CI builds it with --strict.
docs: $(VENV)/.installed-dev
	$(PY) -m mkdocs serve -a 127.0.0.1:8001

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles
