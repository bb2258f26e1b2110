"""`python -m kuzushiji_tf.train`, as documented: the same as `kuzushiji-train` (kuzushiji_tf/cli/train.py)."""

from kuzushiji_tf.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
