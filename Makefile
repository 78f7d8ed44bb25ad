# Baton: `make run` serves web, worker and scheduler; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: install run test test-fast test-embedded test-rabbitmq test-faults test-js lint faults bench bench-history clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The compiled catalogues (.mo) are built here, never committed: Django's compilemessages, which
# needs GNU gettext's msgfmt (Debian's `gettext`). `make lint` checks the .po files themselves.
CATALOGUES := $(wildcard locale/*/LC_MESSAGES/*.po)
locale/.compiled: $(CATALOGUES) | $(VENV)/.installed
	$(BIN)/python manage.py compilemessages --ignore .venv --ignore var --ignore staticfiles -v 0
	touch $@

messages: locale/.compiled

run: install messages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Baton: http://localhost:$(PORT)/admin/  (Ctrl-C stops web, worker and scheduler)"
	$(BIN)/honcho start -f Procfile

# Style, types, and the layers: import-linter checks the contracts in pyproject.toml
# (docs/architecture.md, "Layers").
lint: install messages test-js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_catalogues.py

# The admin's scripts parse, and the DAG editor's document model passes its tests (Node's own
# runner, no npm package: Debian's nodejs).
test-js:
	for script in workflows/static/baton/*.js executions/static/baton/*.js; do node --check $$script || exit 1; done
	node --test --test-reporter=dot tests/js/*.test.js

# The whole suite on the configured database and broker (PostgreSQL + Redis in CI), then once
# more on the embedded default (SQLite + the filesystem broker): each runs its own hop store.
# Both passes run in TEST_PROCESSES pytest-xdist processes (a file's tests stay in one process),
# each with its own test database, Celery worker, broker database and var directory
# (tests/xdist_env.py); TEST_PROCESSES=0 runs them in this process.
test: lint test-fast test-embedded test-rabbitmq test-faults

TEST_PROCESSES ?= 3
PARALLEL := -p tests.xdist_env -n $(TEST_PROCESSES) --dist loadfile

test-fast: install messages
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -q -m "not faults" $(PARALLEL)

test-embedded: install messages
	rm -rf $(CURDIR)/var/embedded-test
	env -u DATABASE_URL -u CELERY_BROKER_URL BATON_VAR_DIR=$(CURDIR)/var/embedded-test \
		$(BIN)/python -m pytest -q -m "not faults" $(PARALLEL)

# Every test that runs a real Celery worker (marked `worker`: the end-to-end examples, the run
# context, recovery, alerts' delivery, the browser's live pages, metrics and workers) once more with
# RabbitMQ as the broker; the other tests wait on no worker (most swap the broker for a recorder).
# The fault subset restarts RabbitMQ too (tests/faults/test_broker_loss.py). BATON_TEST_RABBITMQ
# names the server; its virtual hosts `baton-test` (and one per test process) are made here.
BATON_TEST_RABBITMQ ?= amqp://guest:guest@127.0.0.1:5672
export BATON_TEST_RABBITMQ
test-rabbitmq: install messages
	for vhost in baton-test $$(seq -f 'baton-test-gw%g' 0 $$(($(TEST_PROCESSES) - 1))); do \
		rabbitmqctl -q add_vhost $$vhost 2>/dev/null || true; \
		rabbitmqctl -q set_permissions -p $$vhost guest ".*" ".*" ".*" || exit 1; \
	done
	CELERY_BROKER_URL=$(BATON_TEST_RABBITMQ)/baton-test $(BIN)/python -m pytest -q -m "worker and not faults" $(PARALLEL)

# Fault injection (kills workers, loses the broker). `make test` runs the quick subset; `make
# faults` runs everything, including the 100-batch join and stop-race variants.
test-faults: install messages
	$(BIN)/pytest -q -m "faults and not slow" tests/faults

faults: install messages
	$(BIN)/pytest -q -m faults tests/faults

# Figures go to docs/benchmarks.md and docs/benchmarks-scheduler.md, with the machine and date.
# The RabbitMQ phase's two virtual hosts are made here on a local RabbitMQ, as for test-rabbitmq
# (BENCH_AMQP_VHOSTS renames them; on another server, make them there).
BENCH_AMQP_VHOSTS ?= baton-bench,baton-bench-raw
export BENCH_AMQP_VHOSTS
bench: install
	@if command -v rabbitmqctl >/dev/null 2>&1; then \
		for vhost in $$(echo "$(BENCH_AMQP_VHOSTS)" | tr , ' '); do \
			rabbitmqctl -q add_vhost $$vhost 2>/dev/null || true; \
			rabbitmqctl -q set_permissions -p $$vhost guest ".*" ".*" ".*" 2>/dev/null || true; \
		done; \
	fi
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.scheduler

# A million batches (BENCH_HISTORY_BATCHES to make it smaller): generated with set-based SQL in its
# own database, the pages a user touches and the hop timed with it in place; figures go to
# docs/benchmarks-history.md.
bench-history: install
	$(BIN)/python -m benchmarks.history

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
