# make run  — the whole service locally (web, worker, dev SMTP sink), SQLite by default.
# make test — the whole test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test test-deps test-quick lint bench install clean-venv i18n-extract i18n-update i18n-compile mail-templates

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

# Languages (API.md §14): the .po catalogs are committed; the compiled .mo files are built here.
CATALOGS := $(wildcard translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(VENV)/bin/pybabel compile -f -d translations -l $*

install: $(STAMP) $(COMPILED)

# Developers: after changing a string a person reads, extract and update, translate zh_CN, then compile.
i18n-extract: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .
i18n-update: i18n-extract
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching
i18n-compile: $(STAMP)
	$(VENV)/bin/pybabel compile -f -d translations

# The built-in mail (API.md §14) is authored in MJML (templates/email/mjml/*.mjml) and compiled to the committed
# Jinja templates the service reads; Node and the pinned `mjml` package (package-lock.json) are needed here only.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@
mail-templates: node_modules/.installed
	python3 templates/email/mjml/build.py

# Browser tests drive Debian's chromium; installed once where we may (root with apt), else they skip.
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	    >/dev/null 2>&1 || echo "could not install chromium: the browser tests will be skipped"; \
	else echo "no chromium here: the browser tests will be skipped"; fi
	@touch $@

# The delivery benchmarks send to Postfix's smtp-sink (Debian's postfix package, "No configuration":
# nothing is configured or started); installed once where we may (root with apt). Without it pipeline.py
# falls back to aiosmtpd; scaleout.py and broadcast.py need it (they count each recipient's arrivals in its dump).
SINK_STAMP := $(VENV)/.smtp-sink
$(SINK_STAMP): $(STAMP)
	@if command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing postfix (for smtp-sink; not configured, not started)"; \
	  (echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix) \
	    >/dev/null 2>&1 || echo "could not install postfix: pipeline.py will use aiosmtpd, scaleout.py and broadcast.py cannot run"; \
	else echo "no smtp-sink here: pipeline.py will use aiosmtpd, scaleout.py and broadcast.py cannot run"; fi
	@touch $@

# The SMTP submission tests relay through a private Postfix instance (postfix -c DIR, loopback ports only;
# the system instance is never configured or started): installed once where we may, else that test skips.
POSTFIX_STAMP := $(VENV)/.postfix
$(POSTFIX_STAMP): $(STAMP)
	@if [ -x /usr/sbin/postfix ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing postfix (for a private instance in the submission tests; not configured, not started)"; \
	  (echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix) \
	    >/dev/null 2>&1 || echo "could not install postfix: the submission test with a real MTA will be skipped"; \
	else echo "no postfix here: the submission test with a real MTA will be skipped"; fi
	@touch $@

.env:
	cp .env.example .env

run: install .env
	$(VENV)/bin/flask db upgrade
	@echo
	@echo "Mailer is starting: web http://localhost:5000, dev SMTP sink 127.0.0.1:1025 (mail kept in instance/devmail/)."
	@echo "Create a tenant and log in:"
	@echo "  $(VENV)/bin/flask tenants create acme --name Acme --admin-email admin@acme.test --admin-password 'change me please'"
	@echo "  curl -s localhost:5000/v1/auth/login -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"tenant\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"change me please\"}'"
	@echo
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile.dev start

# The console's browser tests inject axe-core (npm, pinned in tests/console/package-lock.json) into each page.
AXE_STAMP := tests/console/node_modules/.installed
$(AXE_STAMP): tests/console/package.json tests/console/package-lock.json
	@if command -v npm >/dev/null 2>&1; then (cd tests/console && npm ci --no-audit --no-fund --silent) && touch $@; \
	else echo "no npm here: the console's axe-core checks will be skipped"; fi

# What the tests need installed (CI builds it once, then runs the suite on SQLite, then on PostgreSQL).
test-deps: install $(BROWSER_STAMP) $(POSTFIX_STAMP) $(AXE_STAMP)

# The whole suite runs as two pytest processes side by side (tests/parallel.py: own Redis db and PostgreSQL
# database each); with PYTEST_ARGS, one pytest process runs just what they name.
test: test-deps
ifeq ($(strip $(PYTEST_ARGS)),)
	$(PY) tests/parallel.py
else
	$(PY) -m pytest $(PYTEST_ARGS)
endif

# Everything but the tests that start `rq worker` subprocesses (marked slow), for a quick loop.
test-quick: install $(BROWSER_STAMP) $(POSTFIX_STAMP) $(AXE_STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# ruff, then the import layers (pyproject.toml [tool.importlinter]), then the layout's rules the contracts cannot
# state (tests/test_layers.py: every package in a layer, no two packages importing each other, no cycle).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q --noconftest -p no:cacheprovider tests/test_layers.py -k "not unregistered_endpoint and not import_contracts_are_kept"

# Each benchmark prints its figures as ratios to a baseline measured in the same run; the last line is JSON.
# Every setting comes from bench/common.py's bench_env, never from .env. They flush Redis databases 2 (scaleout),
# 4 (broadcast), 6 (api), 8 (batch), 9 (submission), 10 (inbound), 11 (webhooks), 12 (enumeration) and 13 (pipeline), and RESET the schema
# of BENCH_DATABASE_URL (created if missing) for the PostgreSQL runs.
BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/mailer_bench
export BENCH_DATABASE_URL
bench: $(STAMP) $(SINK_STAMP) $(POSTFIX_STAMP)
	$(PY) bench/smtp_throughput.py
	$(PY) bench/pipeline.py
	$(PY) bench/pipeline.py --database-url $(BENCH_DATABASE_URL)
	$(PY) bench/scaleout.py
	$(PY) bench/broadcast.py
	$(PY) bench/api.py --database-url $(BENCH_DATABASE_URL)
	$(PY) bench/enumeration.py
	$(PY) bench/inbound.py
	$(PY) bench/suppressions.py
	$(PY) bench/webhooks.py
	$(PY) bench/batch.py
	$(PY) bench/submission.py

clean-venv:
	rm -rf $(VENV)
