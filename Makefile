# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo_out

.PHONY: demo test test-fast lint fonts browser serve venv clean release-model

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .[dev]
	touch $@

venv: $(VENV)/.installed

# The synthetic pages need Japanese brush, handwriting and hentaigana fonts (the same list as
# kuzushiji_tf/synthetic/fonts.py FONT_PACKAGES). Install the missing ones with apt-get where we can;
# otherwise say which Debian packages to install and carry on (the generator then stops with the same advice).
# The faces Debian lacks come from the npm registry (tools/install_fonts.py; pinned in npm_fonts.py) into
# ~/.local/share/fonts/kuzushiji_tf; without npm the pages are drawn without them.
FONT_PACKAGES := fonts-kouzan-mouhitsu fonts-aoyagi-kouzan-t fonts-kiloji fonts-seto fonts-klee \
	fonts-yozvox-yozfont-antique fonts-yozvox-yozfont-standard-kana fonts-babelstone-han fonts-hanazono \
	fonts-ipamj-mincho fonts-noto-cjk

fonts: venv
	@$(PY) tools/install_fonts.py || true
	@missing="$$(for p in $(FONT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | tr '\n' ' ')"; \
	if [ -z "$$(echo $$missing)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing fonts with apt-get: $$missing"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null)) \
		|| echo "WARNING: apt-get could not install $$missing"; \
	else \
		echo "WARNING: Japanese fonts missing. Install the Debian packages $$missing," \
		     "or point KUZUSHIJI_FONT_DIR at a folder of Japanese .ttf/.otf/.ttc fonts."; \
	fi

# The web page's end-to-end test drives Debian's Chromium headless (Playwright, no browser download).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing chromium with apt-get (for the web page test)"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) \
		|| echo "WARNING: apt-get could not install chromium"; \
	else \
		echo "WARNING: chromium missing: install Debian's chromium package, or set KUZUSHIJI_SKIP_BROWSER=1"; \
	fi

# ruff (lint + format check) and the import contracts in pyproject.toml; `make test` runs it first, so CI checks it.
LINT_PATHS := kuzushiji_tf tools tests benchmarks docs/images
lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

test: venv lint fonts browser
	$(PY) -m pytest -q -n 2 --durations=15 tests

demo: venv fonts
	$(PY) -m kuzushiji_tf.demo --out $(DEMO_DIR)

# The release model, trained end to end and resumable (docs/release_model.md): hours on a CPU. Rerun the same
# command to resume; keep RELEASE_DIR outside the repository. RELEASE_ARGS names the text and the scans.
RELEASE_DIR ?= ../kuzushiji-release
release-model: venv fonts
	$(PY) -m kuzushiji_tf.cli.release_model --out $(RELEASE_DIR) $(RELEASE_ARGS)

# The HTTP server and web page on http://127.0.0.1:8501/ with the model shipped in kuzushiji_tf/pretrained
# (rebuilt into the user cache on first use; docs/pretrained.md). SERVE_ARGS passes options, e.g.
# make serve SERVE_ARGS="--model demo_out/saved_models/kuzushiji_page/1" or SERVE_ARGS="--backend onnx".
serve: venv
	$(PY) -m kuzushiji_tf.serve $(SERVE_ARGS)

# saved_models/ is kept: your own exports live there (`make demo` keeps its models in $(DEMO_DIR)).
clean:
	rm -rf $(DEMO_DIR) records/demo_* .pytest_cache
