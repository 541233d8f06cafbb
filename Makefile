# Durable Console: `make run` and `make test` do all of their own set-up on a fresh Debian
# machine with Python 3.11 (venv, pip install, apt packages, Redis, migrations).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
REDIS_URL ?= redis://127.0.0.1:6379/0
# The tests use their own Redis database, so a `make run` beside them is not disturbed.
TEST_REDIS_URL ?= $(patsubst %/0,%/15,$(REDIS_URL))
# The suite runs a second time against PostgreSQL (pytest-django creates test_<name>),
# all but the browser tests, which check pages rather than the database. The two runs go
# at once, each with a Redis database of its own (their locks, queues and caches apart);
# the PostgreSQL run's output is in var/test-postgres.log and printed when it ends.
# SKIP_POSTGRES=1 skips that run on a machine without PostgreSQL.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/durable_console
TEST_POSTGRES_REDIS_URL ?= $(patsubst %/0,%/14,$(REDIS_URL))
POSTGRES_TESTS := tests --ignore=tests/browser
# The browser tests run at the same time again, as a third process with its own Redis (and
# so SQLite) database: they mostly wait for chromium and the sandbox, so the three share
# the machine's cores well. Their output is in var/test-browser.log, printed at the end.
TEST_BROWSER_REDIS_URL ?= $(patsubst %/0,%/10,$(REDIS_URL))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The local SQS-compatible server (moto's, from requirements.txt) for the sandbox's status
# events: started like Redis when none answers at SQS_ENDPOINT_URL.
SQS_ENDPOINT_URL ?= http://127.0.0.1:9324

# The archive (retention, docs/DEPLOYMENT.md) of `make run`: moto's S3 server on its own
# port, started like the SQS one, with the bucket created. Only `make run` sets these.
ARCHIVE_ENDPOINT_URL ?= http://127.0.0.1:9325
ARCHIVE_BUCKET ?= durable-console-archive
ARCHIVE_CREDENTIALS ?= none
s3 run: export ARCHIVE_ENDPOINT_URL := $(ARCHIVE_ENDPOINT_URL)
s3 run: export ARCHIVE_BUCKET := $(ARCHIVE_BUCKET)
s3 run: export ARCHIVE_CREDENTIALS := $(ARCHIVE_CREDENTIALS)

# Settings come from the environment (see .env.example); the checks need these.
export REDIS_URL SQS_ENDPOINT_URL

# The set-up steps are quiet: a step's output goes to var/setup.log and is shown only
# when it fails, so that `make run` ends with the console's own block (address, user,
# password). `make ... QUIET=` shows everything.
QUIET ?= 1
quietly = mkdir -p var; if [ -z "$(QUIET)" ]; then $(1); \
	elif ! ( $(1) ) >var/setup.log 2>&1; then \
	cat var/setup.log >&2; echo "Failed: $(2) (its output is above and in var/setup.log)" >&2; \
	exit 1; fi

.PHONY: venv deps oidc-deps redis sqs s3 migrate run test lint

venv: $(VENV)/.installed

$(PY):
	@echo "Creating $(VENV) with $(PYTHON)"
	@$(call quietly,$(PYTHON) -m venv $(VENV),creating $(VENV))

# Reinstall only when requirements.txt changed since the last install.
$(VENV)/.installed: requirements.txt | $(PY)
	@echo "Installing the Python packages of requirements.txt into $(VENV)"
	@$(call quietly,$(PY) -m pip install --disable-pip-version-check --root-user-action=ignore -r requirements.txt,pip install -r requirements.txt)
	@touch $@

# graphviz gives `dot`, redis-server the broker/cache, chromium the browser tests, nodejs and
# npm the OpenID provider of the sign-in tests (tests/oidc).
deps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "Installing with apt-get:$$missing"; \
		mkdir -p var; \
		if ! { $(SUDO) apt-get -qq update && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y $$missing; \
		} >var/setup.log 2>&1; then \
			cat var/setup.log >&2; echo "Failed: apt-get install$$missing" >&2; exit 1; \
		fi; \
	fi

# The OpenID provider the sign-in tests run (tests/oidc_provider.py): panva's oidc-provider,
# installed from tests/oidc/package-lock.json, again only when that file changed.
OIDC_MODULES := tests/oidc/node_modules/.installed

oidc-deps: $(OIDC_MODULES)

$(OIDC_MODULES): tests/oidc/package-lock.json | deps
	@echo "Installing the test OpenID provider's node modules into tests/oidc/node_modules"
	@$(call quietly,npm ci --prefix tests/oidc --no-audit --no-fund,npm ci --prefix tests/oidc)
	@touch $@

REDIS_PING := $(PY) -c "import os, redis; redis.Redis.from_url(os.environ['REDIS_URL'], socket_connect_timeout=1).ping()" >/dev/null 2>&1

# Start a throwaway local Redis (no persistence) when none answers at REDIS_URL. It listens
# on loopback only (IPv6's when the machine has it): nobody else on the network can reach it.
redis: venv
	@if ! $(REDIS_PING); then \
		port=$$($(PY) -c "import os, urllib.parse; print(urllib.parse.urlparse(os.environ['REDIS_URL']).port or 6379)"); \
		echo "Starting redis-server on port $$port (127.0.0.1 and ::1 only)"; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --protected-mode yes \
			--port $$port --save "" --appendonly no >/dev/null; \
		for i in $$(seq 50); do $(REDIS_PING) && exit 0; sleep 0.2; done; \
		echo "Redis does not answer at $$REDIS_URL" >&2; exit 1; \
	fi

SQS_PING := $(PY) -c "import os, boto3, botocore.config as c; boto3.client('sqs', endpoint_url=os.environ['SQS_ENDPOINT_URL'], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x', config=c.Config(connect_timeout=1, read_timeout=2, retries={'max_attempts': 1})).list_queues()" >/dev/null 2>&1

# Start a local SQS server (in memory) when none answers at SQS_ENDPOINT_URL.
sqs: venv
	@if ! $(SQS_PING); then \
		port=$$($(PY) -c "import os, urllib.parse; print(urllib.parse.urlparse(os.environ['SQS_ENDPOINT_URL']).port or 9324)"); \
		echo "Starting the local SQS server (moto) on port $$port"; \
		mkdir -p var; \
		nohup $(PY) -m moto.server -H 127.0.0.1 -p $$port >var/sqs.log 2>&1 & \
		for i in $$(seq 100); do $(SQS_PING) && exit 0; sleep 0.2; done; \
		echo "The local SQS server does not answer at $$SQS_ENDPOINT_URL (see var/sqs.log)." >&2; \
		echo "If another program holds port $$port, stop it or set SQS_ENDPOINT_URL to a free port." >&2; exit 1; \
	fi

S3_PING := $(PY) -c "import os, sys; from sandbox import s3; sys.exit(not s3.answers(os.environ['ARCHIVE_ENDPOINT_URL']))" >/dev/null 2>&1

# Start a local S3 server (in memory) for the archive when none answers at
# ARCHIVE_ENDPOINT_URL, and create ARCHIVE_BUCKET in it.
s3: venv
	@if ! $(S3_PING); then \
		port=$$($(PY) -c "import os, urllib.parse; print(urllib.parse.urlparse(os.environ['ARCHIVE_ENDPOINT_URL']).port or 9325)"); \
		echo "Starting the local S3 server (moto) for the archive on port $$port"; \
		mkdir -p var; \
		nohup $(PY) -m moto.server -H 127.0.0.1 -p $$port >var/s3.log 2>&1 & \
		for i in $$(seq 100); do $(S3_PING) && break; sleep 0.2; done; \
		if ! $(S3_PING); then \
			echo "The local S3 server does not answer at $$ARCHIVE_ENDPOINT_URL (see var/s3.log)." >&2; \
			echo "If another program holds port $$port, stop it or set ARCHIVE_ENDPOINT_URL to a free port." >&2; exit 1; \
		fi; \
	fi; \
	$(PY) -m sandbox.s3 "$$ARCHIVE_ENDPOINT_URL" "$$ARCHIVE_BUCKET"

migrate: venv
	@$(call quietly,$(PY) manage.py migrate --noinput,manage.py migrate)

run: venv deps redis sqs s3 migrate
	@$(PY) manage.py runconsole

# No `sqs` here: the tests use the SQS server at SQS_ENDPOINT_URL when one answers there,
# and start their own on a free port otherwise (tests/conftest.py, local_sqs), so a port
# held by something else does not stop the suite.
test: venv deps redis oidc-deps
	@mkdir -p var; pg=""; \
	if [ "$(SKIP_POSTGRES)" = 1 ]; then \
		echo "SKIP_POSTGRES=1: the PostgreSQL run of $(POSTGRES_TESTS) is skipped"; \
	else \
		echo "On PostgreSQL at the same time: $(POSTGRES_TESTS) (var/test-postgres.log)"; \
		REDIS_URL=$(TEST_POSTGRES_REDIS_URL) DATABASE_URL=$(TEST_POSTGRES_URL) \
			$(PY) -m pytest $(POSTGRES_TESTS) >var/test-postgres.log 2>&1 & pg=$$!; \
	fi; \
	REDIS_URL=$(TEST_BROWSER_REDIS_URL) $(PY) -m pytest tests/browser >var/test-browser.log 2>&1 & br=$$!; \
	REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest --ignore=tests/browser; sqlite=$$?; \
	wait $$br; browser=$$?; \
	echo "================ the browser tests (tests/browser, SQLite) ================"; \
	cat var/test-browser.log; \
	postgres=0; \
	if [ -n "$$pg" ]; then \
		wait $$pg; postgres=$$?; \
		echo "================ the PostgreSQL run ($(POSTGRES_TESTS)) ================"; \
		cat var/test-postgres.log; \
	fi; \
	[ $$sqlite = 0 ] && [ $$browser = 0 ] && [ $$postgres = 0 ]

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
