"""`python -m kuzushiji_tf.demo`, as documented and as `make demo` runs it: the same as `kuzushiji-demo`
(kuzushiji_tf/cli/demo.py)."""

from kuzushiji_tf.cli.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
