#!/usr/bin/env python3
"""The `kuzushiji-package-model` command as a script; its code is kuzushiji_tf/cli/package_model.py."""

from kuzushiji_tf.cli.package_model import main

if __name__ == "__main__":
    raise SystemExit(main())
