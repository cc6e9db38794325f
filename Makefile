# The two commands: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests need, as COMMAND:PACKAGE (installed when COMMAND is missing from
# PATH, /usr/sbin included). To add one, add a word here: nothing else changes. prometheus
# brings promtool, which checks the alert rules in docs/monitoring/ (a 19 MB download).
TEST_PACKAGES := redis-server:redis-server chromium:chromium dovecot:dovecot-imapd \
	spamassassin:spamassassin spamd:spamd spamc:spamc promtool:prometheus
# Waits (up to 10 minutes) for another apt or dpkg to finish instead of failing at once.
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

.PHONY: demo test lint bench soak system-packages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The Debian packages in TEST_PACKAGES that are missing, installed with apt-get (CI runs as root).
system-packages:
	@missing=""; \
	for pair in $(TEST_PACKAGES); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v "$${pair%%:*}" >/dev/null || \
			missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages the tests need:$$missing (apt-get update, then install)"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq $$missing >/dev/null || exit 1; \
		: "installing dovecot-imapd starts its daemon; the tests start their own"; \
		case "$$missing" in *dovecot-imapd*) doveadm stop >/dev/null 2>&1 || true;; esac; \
		: "nor is the Prometheus server wanted, only its promtool"; \
		case "$$missing" in *prometheus*) invoke-rc.d prometheus stop >/dev/null 2>&1 || true;; esac; \
	fi

demo: $(STAMP)
	$(BIN)/newsletter demo

test: $(STAMP) system-packages
	$(BIN)/ruff check newsletter workers tests bench
	$(BIN)/mypy newsletter workers
	$(BIN)/lint-imports
	@# Two pytest-xdist processes side by side (the tests mostly wait on real servers): first
	@# the suite (its 15 slowest tests listed: CI should stay under 20 minutes), then the fault
	@# scenarios (each with servers of its own; they count copies, not seconds), then the
	@# latency tests marked `alone` by themselves. Every part always runs; any one failing
	@# fails the target.
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile -m "not (faults or alone)" --durations=15; \
	parallel=$$?; \
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile -m faults; \
	faults=$$?; \
	$(BIN)/python -m pytest -p no:cacheprovider -m alone; \
	alone=$$?; \
	test $$parallel -eq 0 -a $$faults -eq 0 -a $$alone -eq 0

lint: $(STAMP)
	$(BIN)/ruff check newsletter workers tests bench
	$(BIN)/ruff format --check newsletter workers tests bench
	$(BIN)/mypy newsletter workers
	$(BIN)/lint-imports

# Postfix's smtp-sink, redis-server and locust, installed when missing; no Postfix daemon left
# running. BENCH_ARGS passes options on, e.g. BENCH_ARGS="--sizes 100000 1000000 --setups production".
bench: $(STAMP)
	@command -v smtp-sink >/dev/null || test -x /usr/sbin/smtp-sink || { \
		echo "Installing Debian package postfix (for its smtp-sink)"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq postfix >/dev/null; \
		postfix stop >/dev/null 2>&1; pid=$$(pgrep -f 'postfix/maste[r]') && kill $$pid; true; }
	@command -v redis-server >/dev/null || { echo "Installing Debian package redis-server"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq redis-server >/dev/null; }
	@test -x $(BIN)/locust || { echo "Installing the bench extra (locust)"; \
		$(BIN)/pip install --quiet -e '.[dev,bench]'; }
	$(BIN)/python -m bench $(BENCH_ARGS)

# Every fault scenario SOAK_RUNS times (default 30), fault timing drawn from SOAK_SEED
# (printed; set it to replay); tables in var/soak/<seed>.md. Run again with the same SOAK_SEED,
# it goes on from the first unfinished round. About 8-14 minutes a round here.
soak: $(STAMP) system-packages
	$(BIN)/python -m tests.faults.soak

clean:
	rm -rf $(VENV) var
