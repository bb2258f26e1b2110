#!/usr/bin/env python3
"""The `kuzushiji-measure-real` command as a script; its code is kuzushiji_tf/cli/measure_real.py."""

from kuzushiji_tf.cli.measure_real import main

if __name__ == "__main__":
    raise SystemExit(main())
