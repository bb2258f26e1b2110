# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo_out

.PHONY: demo test test-fast fonts venv clean

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .[dev]
	touch $@

venv: $(VENV)/.installed

# The synthetic pages need Japanese brush, handwriting and hentaigana fonts (the same list as
# kuzushiji_tf/synthetic/fonts.py FONT_PACKAGES). Install the missing ones with apt-get where we can;
# otherwise say which Debian packages to install and carry on (the generator then stops with the same advice).
FONT_PACKAGES := fonts-kouzan-mouhitsu fonts-aoyagi-kouzan-t fonts-kiloji fonts-seto fonts-klee \
	fonts-yozvox-yozfont-antique fonts-yozvox-yozfont-standard-kana fonts-babelstone-han fonts-hanazono \
	fonts-ipamj-mincho fonts-noto-cjk

fonts:
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

test: venv fonts
	$(PY) -m pytest -q -n 2 tests

demo: venv fonts
	$(PY) -m kuzushiji_tf.demo --out $(DEMO_DIR)

# saved_models/ is kept: `make demo` exports its page recogniser there as a new version, beside your own models.
clean:
	rm -rf $(DEMO_DIR) records/demo_* .pytest_cache
