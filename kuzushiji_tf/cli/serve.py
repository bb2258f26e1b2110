"""Serve the page recogniser over HTTP: TF Serving's REST predict API, /recognize, a web page, metrics.

    kuzushiji-serve                                                # the shipped model; or `make serve`
    kuzushiji-serve --model saved_models/kuzushiji_page/1
    kuzushiji-serve --model saved_models/kuzushiji_page_onnx/1 --backend onnx --port 8080

Then open http://127.0.0.1:8501/ and drop a scan on the page (its Correct button edits the reading), or:
    curl -F file=@scan.jpg 'http://127.0.0.1:8501/recognize?format=json'
    kuzushiji-client --url http://127.0.0.1:8501 scan.jpg      # TF Serving's REST shape

It binds 127.0.0.1 unless told otherwise (--host 0.0.0.0 exposes it to the network: put it behind a
proxy that terminates TLS). Without --model, the model shipped with kuzushiji_tf is served (rebuilt into the
user cache on first use, as a SavedModel or with --backend onnx as ONNX; docs/pretrained.md); --models-dir DIR
instead serves the newest version under DIR/kuzushiji_page. The web page and /healthz say which model it is.
With --workspace DIR the web page also saves corrected pages there (scan + PAGE-XML side by side, names
chosen by the server): a folder for `kuzushiji-build-records --layout page`. Without it nothing is ever written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kuzushiji_tf.cli.args import add_model, add_no_context, chosen_model, positive, prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "serve"


def parse_args(argv=None) -> argparse.Namespace:
    from kuzushiji_tf.serving.app import ServerConfig

    d = ServerConfig()
    p = argparse.ArgumentParser(
        prog=prog("python -m kuzushiji_tf.serve"),
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    add_model(p, models_dir=True)
    p.add_argument(
        "--backend",
        choices=("auto", "tf", "onnx"),
        default="auto",
        help="tf: the SavedModel; onnx: ONNX Runtime without TensorFlow; auto: what the folder holds",
    )
    p.add_argument("--host", default="127.0.0.1", help="default %(default)s (this machine only)")
    p.add_argument("--port", type=int, default=8501, help="default %(default)s (TF Serving's REST port)")
    p.add_argument(
        "--max-batch",
        type=positive(int),
        default=d.max_batch,
        help="pages per model call (default %(default)s; 1 = no batching)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=d.batch_wait * 1000,
        help="how long a page waits for others to fill its batch (default %(default)s)",
    )
    p.add_argument(
        "--max-queue",
        type=positive(int),
        default=d.max_queue,
        help="pages waiting or running before requests get 503 + Retry-After (default %(default)s)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=positive(float),
        default=d.max_upload_bytes / 1e6,
        help="largest scan accepted (default %(default)s MB)",
    )
    p.add_argument("--max-pixels", type=positive(int), help="largest scan in pixels (default: the model's own cap)")
    p.add_argument(
        "--max-instances",
        type=positive(int),
        default=d.max_instances,
        help="pages in one predict request (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=positive(float),
        default=d.timeout,
        help="seconds a request may wait for its pages before 504 (default %(default)s)",
    )
    p.add_argument("--threads", type=positive(int), help="ONNX Runtime intra-op threads (default: all cores)")
    p.add_argument(
        "--workspace",
        metavar="DIR",
        help="folder where the web page saves corrected pages (scan + PAGE-XML); default: none, saving is off",
    )
    add_no_context(p)
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import uvicorn

    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.serving.app import ServerConfig, create_app

    try:
        choice = chosen_model(args, args.backend)
        model_path = choice.path
        options = {"intra_op_num_threads": args.threads} if args.threads else {}
        model = load_page_model(model_path, args.backend, **options)
    except (FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    config = ServerConfig(
        max_batch=args.max_batch,
        batch_wait=args.batch_wait_ms / 1000,
        max_queue=args.max_queue,
        max_upload_bytes=int(args.max_upload_mb * 1e6),
        max_pixels=args.max_pixels,
        max_instances=args.max_instances,
        timeout=args.timeout,
        context=not args.no_context,
        source=choice.description,
        workspace=args.workspace,
    )
    logging.basicConfig(level=args.log_level.upper(), format="serve: %(message)s")
    print(
        f"serve: {model_path} ({model.backend}) on http://{args.host}:{args.port}/  "
        f"(batch <= {config.max_batch}, queue <= {config.max_queue})"
        + (f"; corrected pages saved into {args.workspace}" if args.workspace else ""),
        flush=True,
    )
    uvicorn.run(
        create_app(model, config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_keep_alive=5,
        limit_concurrency=config.max_queue * 4 + 16,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
