# The two commands: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES_TEST := redis-server chromium dovecot-imapd

.PHONY: demo test lint bench system-packages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need, installed only when missing (CI runs as root).
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd"; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		apt-get update -qq -o DPkg::Lock::Timeout=600 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
			$$missing >/dev/null; \
		doveadm stop >/dev/null 2>&1; true; \
	fi

demo: $(STAMP)
	$(BIN)/newsletter demo

test: $(STAMP) system-packages
	$(BIN)/ruff check newsletter workers tests bench
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check newsletter workers tests bench
	$(BIN)/ruff format --check newsletter workers tests bench

# Postfix's smtp-sink and redis-server, installed when missing; no Postfix daemon left running.
bench: $(STAMP)
	@command -v smtp-sink >/dev/null || test -x /usr/sbin/smtp-sink || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; \
		postfix stop >/dev/null 2>&1; pid=$$(pgrep -f 'postfix/maste[r]') && kill $$pid; true; }
	@command -v redis-server >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
