#!/usr/bin/env python3
"""The `kuzushiji-launch-local-cluster` command as a script; its code is kuzushiji_tf/cli/launch_local_cluster.py."""

from kuzushiji_tf.cli.launch_local_cluster import main

if __name__ == "__main__":
    raise SystemExit(main())
