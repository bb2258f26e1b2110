#!/usr/bin/env python3
"""The `kuzushiji-build-records` command as a script; its code is kuzushiji_tf/cli/build_records.py."""

from kuzushiji_tf.cli.build_records import main

if __name__ == "__main__":
    raise SystemExit(main())
