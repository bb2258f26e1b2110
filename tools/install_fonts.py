#!/usr/bin/env python3
"""The `kuzushiji-install-fonts` command as a script; its code is kuzushiji_tf/cli/install_fonts.py."""

from kuzushiji_tf.cli.install_fonts import main

if __name__ == "__main__":
    raise SystemExit(main())
