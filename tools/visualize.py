#!/usr/bin/env python3
"""The `kuzushiji-visualize` command as a script; its code is kuzushiji_tf/cli/visualize.py."""

from kuzushiji_tf.cli.visualize import main

if __name__ == "__main__":
    raise SystemExit(main())
