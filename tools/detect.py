#!/usr/bin/env python3
"""The `kuzushiji-detect` command as a script; its code is kuzushiji_tf/cli/detect.py."""

from kuzushiji_tf.cli.detect import main

if __name__ == "__main__":
    raise SystemExit(main())
