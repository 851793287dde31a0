# Two commands are all the set-up there is: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean examples notebooks bundled-model

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Picks with the bundled model on a real local earthquake (ObsPy's example record BW.RJOB).
demo: $(STAMP)
	$(BIN)/picker predict data/examples/rjob.mseed -o demo_output/picks.csv --plot demo_output
	$(BIN)/picker predict data/examples/rjob.mseed -o demo_output/picks.xml --format quakeml --quiet
	@echo
	@echo "picks (demo_output/picks.csv):"
	@cat demo_output/picks.csv
	@echo
	@echo "review figure(s) (pick times in the strip on top, traces high-passed at 1 Hz):"
	@ls demo_output/*.png

# JupyterLab on notebooks/ (installs the `notebooks` extra into .venv the first time).
notebooks: $(STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet -e '.[notebooks]'
	$(BIN)/jupyter-lab notebooks/

examples: $(STAMP)
	$(BIN)/python data/make_examples.py

test: $(STAMP)
	$(BIN)/ruff check picker tests benchmarks data notebooks
	$(BIN)/ruff format --check picker tests benchmarks data notebooks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check picker tests benchmarks data notebooks

format: $(STAMP)
	$(BIN)/ruff format picker tests benchmarks data notebooks

clean:
	rm -rf $(VENV) build *.egg-info demo_output

# Regenerate the bundled model (picker/models/bundled/) from the published PhaseNet and the
# labelled records: SHARED holds pretrained/phasenet/ and data/ (see the model card).
SHARED ?= ../shared
BUNDLED_RECIPE := --normalization std --highpass-hz 0 --keep-init 0.3 --new-sets \
    --region-weight martinique=2 --epochs 12 --steps-per-epoch 300 --synthetic 1000 \
    --learning-rate 2e-4 --lr-schedule cosine --blind --glitch 0.3 --vertical-only 0.1 \
    --lowpass 0.5
bundled-model: $(STAMP)
	$(BIN)/python benchmarks/train_bundled.py $(BUNDLED_RECIPE) --data-root $(SHARED)/data \
	    --init-phasenet $(SHARED)/pretrained/phasenet --output runs/bundled
	$(BIN)/python benchmarks/train_bundled.py --install runs/bundled/model.keras \
	    --fine-tuned-from runs/bundled/init.keras --interpolate 0.3 \
	    --window-overlap 0.3333 --window-merge mean \
	    --operating-point 0.45,0.45 --calibration-data $(SHARED)/data
