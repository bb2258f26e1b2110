#!/usr/bin/env python3
"""The `kuzushiji-recognize` command as a script; its code is kuzushiji_tf/cli/recognize.py."""

from kuzushiji_tf.cli.recognize import main

if __name__ == "__main__":
    raise SystemExit(main())
