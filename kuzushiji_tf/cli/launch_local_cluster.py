"""Train with `--strategy multi_worker` on N workers of this machine (127.0.0.1 only): a local try of what
several machines do with TF_CONFIG. Everything after `--` goes to `kuzushiji-train`.

Example:
    kuzushiji-launch-local-cluster --workers 2 -- --task detector --records records/synth \
        --out saved_models/det2 --batch-size 8
"""

from __future__ import annotations

import argparse
import sys

from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.engine.local_cluster import DEFAULT_GRACE_SECONDS, run_cluster

PROG = "launch_local_cluster"


def parse_args(argv=None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, train_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], usage="%(prog)s --workers N [--grace-seconds S] -- <train arguments>"
    )
    parser.add_argument("--workers", type=int, required=True, help="training processes, worker 0 is the chief")
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="after one worker fails, how long the others get to stop before SIGKILL, default %(default)s",
    )
    args = parser.parse_args(ours)
    if not train_args:
        parser.error("no training arguments: put them after `--`, e.g. -- --task detector --records R --out O")
    return args, train_args


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args, train_args = parse_args(argv)
    try:
        status = run_cluster(train_args, args.workers, grace_seconds=args.grace_seconds)
    except ValueError as error:
        return fail(PROG, error)
    print(
        f"[cluster] {args.workers} worker(s) " + ("finished" if status == 0 else f"stopped, status {status}"),
        flush=True,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
