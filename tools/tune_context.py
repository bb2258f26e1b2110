#!/usr/bin/env python3
"""The `kuzushiji-tune-context` command as a script; its code is kuzushiji_tf/cli/tune_context.py."""

from kuzushiji_tf.cli.tune_context import main

if __name__ == "__main__":
    raise SystemExit(main())
