#!/usr/bin/env python3
"""The `kuzushiji-ink-statistics` command as a script; its code is kuzushiji_tf/cli/ink_statistics.py."""

from kuzushiji_tf.cli.ink_statistics import main

if __name__ == "__main__":
    raise SystemExit(main())
