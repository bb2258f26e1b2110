#!/usr/bin/env python3
"""The `kuzushiji-build-lm` command as a script; its code is kuzushiji_tf/cli/build_lm.py."""

from kuzushiji_tf.cli.build_lm import main

if __name__ == "__main__":
    raise SystemExit(main())
