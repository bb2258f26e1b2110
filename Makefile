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

# The synthetic pages need Japanese brush fonts. Install them with apt-get where we can; otherwise say
# which Debian package to install and carry on (the generator then stops with the same advice).
fonts:
	@if ls /usr/share/fonts/truetype/kouzan-mouhitsu/*.ttf >/dev/null 2>&1 || fc-list 2>/dev/null | grep -qi 'kouzan\|Noto.*CJK'; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Japanese brush fonts (fonts-kouzan-mouhitsu, fonts-noto-cjk) with apt-get"; \
		(apt-get install -y -qq fonts-kouzan-mouhitsu fonts-noto-cjk >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-kouzan-mouhitsu fonts-noto-cjk >/dev/null)) \
		|| echo "WARNING: apt-get could not install fonts-kouzan-mouhitsu / fonts-noto-cjk"; \
	else \
		echo "WARNING: Japanese fonts missing. Install the Debian package fonts-kouzan-mouhitsu (and fonts-noto-cjk)," \
		     "or point KUZUSHIJI_FONT_DIR at a folder of Japanese .ttf/.otf/.ttc fonts."; \
	fi

test: venv fonts
	$(PY) -m pytest -q tests

demo: venv fonts
	$(PY) -m kuzushiji_tf.demo --out $(DEMO_DIR)

clean:
	rm -rf $(DEMO_DIR) records/demo_* .pytest_cache
