# GenLab: `make run` starts the app (on PORT, 8501 by default), `make test` runs the tests. Both create .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint install install-dev bench clean

# Where pip may also look for PyTorch. PyPI's Linux torch wheel is the CUDA build (several GB with its libraries),
# so on a machine without an NVIDIA GPU the installs add PyTorch's CPU index, but only when that index answers:
# pip retries an unreachable extra index on every package it installs (5 tries each; minutes in all, or hours
# where packets are dropped), so a machine offline or behind a package mirror installs from its usual index alone.
# TORCH_INDEX=auto (the default) decides so; TORCH_INDEX= (empty) never adds an index; any URL is always added,
# e.g. `make run TORCH_INDEX=https://download.pytorch.org/whl/cu126`.
TORCH_INDEX ?= auto
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
define pip_install
	index='$(TORCH_INDEX)'; \
	if [ "$$index" = auto ]; then \
	  index=; \
	  if ! command -v nvidia-smi >/dev/null 2>&1 \
	     && $(PY) -c "import urllib.request as r; r.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" >/dev/null 2>&1; \
	  then index='$(TORCH_CPU_INDEX)'; fi; \
	fi; \
	echo "pip install $(1)$${index:+ (also from $$index)}"; \
	$(BIN)/pip install -q $${index:+--extra-index-url "$$index"} $(1)
endef

$(BIN)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	@$(call pip_install,-r requirements.txt)
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	@$(call pip_install,-r requirements-dev.txt)
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

run: install
	$(BIN)/streamlit run streamlit_app.py --server.port $${PORT:-8501}

test: install-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The inner loop (under 2 minutes on 2 cores): core units and a smoke run of every page, no browser, no servers,
# no long training (tests marked slow; pytest.ini says which). `make test` still runs everything.
test-fast: install-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

# ruff, configured in pyproject.toml: zero findings is the bar (.ci/run runs it before the tests)
lint: install-dev
	$(BIN)/ruff check .

bench: install-dev
	$(BIN)/python bench/bench_app.py

clean:
	rm -rf $(VENV) .cache .pytest_cache artifacts

# A class on one machine: REPLICAS GenLab processes (about one per core) behind HAProxy on PORT (deploy/cluster.py),
# and with more than one replica a Redis (in memory only, loopback) that holds class mode's classes for all of them.
REPLICAS ?= 2
.PHONY: serve
serve: install
	$(BIN)/python -m deploy.cluster --replicas $(REPLICAS) --port $${PORT:-8501}
