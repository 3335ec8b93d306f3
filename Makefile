# Every common action has a short name: `make help` lists them.
PYTHON ?= python3
# The course's 25 ImageNet images (see README: "Reproducing the report's figures").
NPZ ?= ../shared/data/imagenet_val_25.npz
# Extra overrides for figure targets, e.g. make fig1 ARGS="model=efficientnet_lite0"
ARGS ?=
FIG = $(PYTHON) run.py data.path=$(NPZ) $(ARGS)

.PHONY: help install demo test test-fast bench ui figures clean fig1 fig2

help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## install netviz and its test tools into the current Python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[dev]"

demo: install  ## saliency maps of the bundled photos with the offline model (no network needed)
	$(PYTHON) run.py model=efficientnet_lite0 figure=figures/demo.png

test: install  ## the whole test suite, slow end-to-end tests included (what CI runs)
	$(PYTHON) -m pytest -q

test-fast:  ## the unit tests only
	$(PYTHON) -m pytest -q -m "not slow"

bench:  ## framework against plain PyTorch, as ratios measured in one run
	$(PYTHON) -m benchmarks

ui:  ## browse runs: the MLflow UI on http://127.0.0.1:5000
	$(PYTHON) -m mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

clean:  ## remove run products (keeps mlflow.db: use `rm mlflow.db` to drop all runs)
	rm -rf outputs multirun figures .pytest_cache

# ---- saliency maps (report section 1) ----
fig1:  ## Figure 1: saliency maps, SqueezeNet 1.1
	$(FIG) experiment=fig1

fig2:  ## Figure 2: saliency maps, VGG16
	$(FIG) experiment=fig2

# ---- adversarial examples (report section 2) ----

# ---- class visualization (report section 3) ----

FIGURES = fig1 fig2
figures: $(FIGURES)  ## every figure of the report, into figures/
