# GenLab: `make run` starts the app, `make test` runs the tests. Both create .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev bench clean

$(BIN)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

run: install
	$(BIN)/streamlit run streamlit_app.py --server.port $${PORT:-8501}

test: install-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: install-dev
	$(BIN)/python bench/bench_app.py

clean:
	rm -rf $(VENV) .cache .pytest_cache artifacts

# A class on one machine: REPLICAS GenLab processes (about one per core) behind HAProxy on PORT (deploy/cluster.py).
REPLICAS ?= 2
.PHONY: serve
serve: install
	$(BIN)/python -m deploy.cluster --replicas $(REPLICAS) --port $${PORT:-8501}
