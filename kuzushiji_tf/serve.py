"""`python -m kuzushiji_tf.serve`, as documented and as `make serve` runs it: the same as `kuzushiji-serve`
(kuzushiji_tf/cli/serve.py)."""

from kuzushiji_tf.cli.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
