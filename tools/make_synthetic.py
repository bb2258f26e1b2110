#!/usr/bin/env python3
"""The `kuzushiji-make-synthetic` command as a script; its code is kuzushiji_tf/cli/make_synthetic.py."""

from kuzushiji_tf.cli.make_synthetic import main

if __name__ == "__main__":
    raise SystemExit(main())
