#!/usr/bin/env python3
"""The `kuzushiji-export` command as a script; its code is kuzushiji_tf/cli/export.py."""

from kuzushiji_tf.cli.export import main

if __name__ == "__main__":
    raise SystemExit(main())
