# physim: two commands. `make demo` sets everything up and renders scenes/hello.py to out/;
# `make test` sets up the same way and runs the test suite.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.physim-installed
PYTEST_WORKERS ?= 2

# Headless OpenGL for the renderer: Mesa's EGL (llvmpipe on machines without a GPU), OSMesa as fallback.
GL_PACKAGES := libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6

.PHONY: demo test test-fast test-slow setup system-deps lint bench clean

demo: setup
	$(PY) -m physim.cli run scenes/hello.py --out out

test: setup
	$(MAKE) --no-print-directory test-fast
	$(MAKE) --no-print-directory test-slow

test-fast:
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow" tests

test-slow:
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m slow tests; status=$$?; [ $$status -eq 5 ] && exit 0; exit $$status

setup: system-deps $(STAMP)

# The GL libraries come from apt when missing and we are root; otherwise print the exact line to run.
system-deps:
	@missing=""; \
	for lib in libEGL.so.1 libGL.so.1 libOSMesa.so; do \
	  ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$lib"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "physim: installing headless GL libraries ($$missing)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GL_PACKAGES) >/dev/null; \
	  else \
	    echo "physim: headless rendering needs:$$missing. Run as root:"; \
	    echo "  apt-get install -y $(GL_PACKAGES)"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "physim: python3 -m venv failed; installing python3-venv"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	# pyrender 0.1.45 pins PyOpenGL 3.1.0, which breaks OSMesa; its real dependencies are in pyproject.toml.
	$(PY) -m pip install -q --no-deps pyrender==0.1.45
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check physim tests scenes benchmarks

bench: setup
	$(PY) benchmarks/hello.py

clean:
	rm -rf $(VENV) out .pytest_cache
