#!/usr/bin/env python3
"""The `kuzushiji-transcribe` command as a script; its code is kuzushiji_tf/cli/transcribe.py."""

from kuzushiji_tf.cli.transcribe import main

if __name__ == "__main__":
    raise SystemExit(main())
