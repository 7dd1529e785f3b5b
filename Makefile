# Every target creates .venv when missing and installs the pinned dependencies into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench format lock proto $(BENCHMARKS)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/amss serve --demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/python scripts/gen_proto.py --check

# Regenerate src/amss/grpc/gen/ from api/proto/amss.proto (committed; `make lint` and the
# tests fail while it is stale).
proto: $(STAMP)
	$(BIN)/python scripts/gen_proto.py

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# `make bench` runs every benchmark, `make bench QUICK=1` a smaller version of each,
# `make bench webhooks` (or api, generation, imports, reports) only those named.
BENCHMARKS := api generation imports reports webhooks
bench: $(STAMP)
	QUICK=$(QUICK) $(BIN)/python -m bench $(filter $(BENCHMARKS),$(MAKECMDGOALS))

$(BENCHMARKS):
	@:

# Re-pin every dependency after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^amss' > constraints.txt
