#!/usr/bin/env python3
"""The `kuzushiji-pseudo-label` command as a script; its code is kuzushiji_tf/cli/pseudo_label.py."""

from kuzushiji_tf.cli.pseudo_label import main

if __name__ == "__main__":
    raise SystemExit(main())
