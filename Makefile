# The two set-up commands of the README:  `make serve`  and  `make test`.
# Both bootstrap what they need (a venv with the locked dependencies, Debian packages when missing).
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck perf soak lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
	@$(VENV)/bin/uv pip sync -q --python $(VENV)/bin/python requirements.lock
	@$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python --no-deps -e .
	@touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/runner serve

test: $(STAMP)
	@bash tests/bootstrap_system.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

perf: $(STAMP)
	$(VENV)/bin/python -m tests.perf

# The chaos tests at length (the suite runs a bounded slice): 24 kill -9 cycles and the faults.
soak: $(STAMP)
	CHAOS_KILLS=$${CHAOS_KILLS:-24} $(VENV)/bin/pytest tests/e2e/test_chaos.py tests/actors/test_delivery_flood.py -q -s

lock:
	uv pip compile --quiet --python-version 3.11 --extra dev --generate-hashes pyproject.toml -o requirements.lock

clean:
	rm -rf $(VENV)
