# Every common action has a short name: `make help` lists them.
PYTHON ?= python3
# The course's 25 ImageNet images (see README: "Reproducing the report's figures").
NPZ ?= ../shared/data/imagenet_val_25.npz
# Extra overrides for figure targets, e.g. make fig1 ARGS="model=efficientnet_lite0"
ARGS ?=
FIG = $(PYTHON) run.py data.path=$(NPZ) $(ARGS)
# Where figure targets write their PNGs.
FIGURES_DIR ?= figures

.PHONY: help install demo test test-fast bench ui clean

help:  ## list the targets
	@grep -hE '^[a-z0-9%-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## install netviz and its test tools into the current Python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[dev]" torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps torchattacks==3.5.1 torch-lucent==0.1.8 torch==2.14.1 torchvision==0.29.1

demo: install  ## saliency maps of the bundled photos with the offline model (no network needed)
	$(PYTHON) run.py model=efficientnet_lite0 figure=figures/demo.png

test: install  ## the whole test suite, slow end-to-end tests included (what CI runs)
	$(PYTHON) -m pytest -q

test-fast:  ## the unit tests only
	$(PYTHON) -m pytest -q -m "not slow"

bench:  ## framework against plain PyTorch, as ratios measured in one run
	$(PYTHON) -m benchmarks

PORT ?= 5000
ui:  ## browse runs: the MLflow UI on http://127.0.0.1:$(PORT) (make ui PORT=5001 for another port)
	$(PYTHON) -m netviz.ui --store sqlite:///$(CURDIR)/mlflow.db --port $(PORT)

clean:  ## remove run products (keeps mlflow.db: use `rm mlflow.db` to drop all runs)
	rm -rf outputs multirun figures .pytest_cache

# ---- the report's figures: one pattern rule for every experiments/fig*.yaml ----
# `make figN` runs experiments/figN.yaml as one multirun (a single job when it sweeps nothing) into
# the MLflow store; the job writes its figure, and a sweep's figure is then composed from the
# store's runs (netviz.compose). `make fig-methods` runs experiments/fig_methods.yaml.
# LAUNCHER=joblib runs a sweep's jobs in parallel on this machine's cores (see README: sweeps).
LAUNCHER ?=
COMPOSE = $(PYTHON) -m netviz.compose
FIGURES := $(sort $(basename $(notdir $(wildcard experiments/fig*.yaml))))

fig%:  ## a report figure: make fig1 ... make fig15, make fig-methods (see experiments/)
	$(PYTHON) run.py -m data.path=$(NPZ) experiment=$(subst -,_,fig$*) figure=$(FIGURES_DIR)/fig$*.png $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(ARGS)
	@if grep -q "sweeper:" experiments/$(subst -,_,fig$*).yaml; then $(COMPOSE) fig$* $(ARGS) --output $(FIGURES_DIR)/fig$*.png; fi

q2:  ## the report's Q2 limits of saliency maps as numbers: every method x every evaluation, one sweep (offline model)
	$(PYTHON) run.py -m data.path=$(NPZ) experiment=q2 $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(ARGS)

.PHONY: figures transfer-table transfer-zoo q2
figures: $(FIGURES)  ## every figure of the report, into figures/

transfer-table:  ## source x evaluated-model table of fooling rates from the adversarial runs in MLflow, and its heat map
	$(PYTHON) -m netviz.transfer --tracking-uri sqlite:///$(CURDIR)/mlflow.db --figure $(FIGURES_DIR)/transfer.png

transfer-zoo:  ## adversarial images from each offline model and from ensembles, judged by all three (then make transfer-table)
	$(PYTHON) run.py -m data.path=$(NPZ) experiment=transfer_zoo $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(ARGS)
