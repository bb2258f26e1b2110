#!/usr/bin/env python3
"""The `kuzushiji-client` command as a script; its code is kuzushiji_tf/cli/client.py."""

from kuzushiji_tf.cli.client import main

if __name__ == "__main__":
    raise SystemExit(main())
