#!/usr/bin/env python3
"""The `kuzushiji-evaluate` command as a script; its code is kuzushiji_tf/cli/evaluate.py."""

from kuzushiji_tf.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
