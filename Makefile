# Every common action has a short name: `make help` lists them.
PYTHON ?= python3
# The course's 25 ImageNet images (see README: "Reproducing the report's figures").
NPZ ?= ../shared/data/imagenet_val_25.npz
# Extra overrides for figure targets, e.g. make fig1 ARGS="model=efficientnet_lite0"
ARGS ?=
FIG = $(PYTHON) run.py data.path=$(NPZ) $(ARGS)
# Where figure targets write their PNGs.
FIGURES_DIR ?= figures

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
	$(PYTHON) -m mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

clean:  ## remove run products (keeps mlflow.db: use `rm mlflow.db` to drop all runs)
	rm -rf outputs multirun figures .pytest_cache

# ---- saliency maps (report section 1) ----
fig1:  ## Figure 1: saliency maps, SqueezeNet 1.1
	$(FIG) experiment=fig1 figure=$(FIGURES_DIR)/fig1.png

fig2:  ## Figure 2: saliency maps, VGG16
	$(FIG) experiment=fig2 figure=$(FIGURES_DIR)/fig2.png

# ---- adversarial examples (report section 2) ----
.PHONY: fig3 fig4 transfer-table
fig3:  ## Figure 3: the quail fooled into stingray, mushroom, bee eater (naive method, SqueezeNet 1.1)
	$(FIG) experiment=fig3 figure=$(FIGURES_DIR)/fig3.png

fig4:  ## Figure 4: the Border terrier fooled into golden retriever, French bulldog, desk
	$(FIG) experiment=fig4 figure=$(FIGURES_DIR)/fig4.png

transfer-table:  ## source x evaluated-model table of fooling rates from the adversarial runs in MLflow
	$(PYTHON) -m netviz.transfer --tracking-uri sqlite:///$(CURDIR)/mlflow.db

# ---- class visualization (report section 3) ----
# Each figure is one multirun (tagged figure=figN), then one PNG composed from the runs in MLflow.
COMPOSE = $(PYTHON) -m netviz.compose
FIG_SWEEP = $(PYTHON) run.py -m data.path=$(NPZ) $(ARGS)
.PHONY: fig5 fig6 fig7 fig8 fig9 fig10 fig11 fig12 fig13 fig14 fig15
fig5:  ## Figure 5: class visualization, Yorkshire terrier from noise, course defaults
	$(FIG_SWEEP) experiment=fig5
	$(COMPOSE) fig5 $(ARGS) --output $(FIGURES_DIR)/fig5.png

fig6:  ## Figure 6: class visualization, iterations 200/500/1000
	$(FIG_SWEEP) experiment=fig6
	$(COMPOSE) fig6 $(ARGS) --output $(FIGURES_DIR)/fig6.png

fig7:  ## Figure 7: class visualization, learning rate 0.1/10 x iterations 200/1000
	$(FIG_SWEEP) experiment=fig7
	$(COMPOSE) fig7 $(ARGS) --output $(FIGURES_DIR)/fig7.png

fig8:  ## Figure 8: class visualization, L2 weight 1e-2/1e-5 x iterations 200/1000
	$(FIG_SWEEP) experiment=fig8
	$(COMPOSE) fig8 $(ARGS) --output $(FIGURES_DIR)/fig8.png

fig9:  ## Figure 9: class visualization, blur every 2/20 steps, no blur
	$(FIG_SWEEP) experiment=fig9
	$(COMPOSE) fig9 $(ARGS) --output $(FIGURES_DIR)/fig9.png

fig10:  ## Figure 10: class visualization, start from same-class images
	$(FIG_SWEEP) experiment=fig10
	$(COMPOSE) fig10 $(ARGS) --output $(FIGURES_DIR)/fig10.png

fig11:  ## Figure 11: class visualization, hay -> snail
	$(FIG_SWEEP) experiment=fig11
	$(COMPOSE) fig11 $(ARGS) --output $(FIGURES_DIR)/fig11.png

fig12:  ## Figure 12: class visualization, hay -> snail with VGG16
	$(FIG_SWEEP) experiment=fig12
	$(COMPOSE) fig12 $(ARGS) --output $(FIGURES_DIR)/fig12.png

fig13:  ## Figure 13: class visualization, VGG16, learning rates
	$(FIG_SWEEP) experiment=fig13
	$(COMPOSE) fig13 $(ARGS) --output $(FIGURES_DIR)/fig13.png

fig14:  ## Figure 14: class visualization, VGG16, L2 weights
	$(FIG_SWEEP) experiment=fig14
	$(COMPOSE) fig14 $(ARGS) --output $(FIGURES_DIR)/fig14.png

fig15:  ## Figure 15: class visualization, VGG16, blur frequency
	$(FIG_SWEEP) experiment=fig15
	$(COMPOSE) fig15 $(ARGS) --output $(FIGURES_DIR)/fig15.png


FIGURES = fig1 fig2 fig3 fig4 fig5 fig6 fig7 fig8 fig9 fig10 fig11 fig12 fig13 fig14 fig15
figures: $(FIGURES)  ## every figure of the report, into figures/
