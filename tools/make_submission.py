#!/usr/bin/env python3
"""The `kuzushiji-make-submission` command as a script; its code is kuzushiji_tf/cli/make_submission.py."""

from kuzushiji_tf.cli.make_submission import main

if __name__ == "__main__":
    raise SystemExit(main())
