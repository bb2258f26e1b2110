"""Recognition at scale: pages/s of tools/recognize.py as a Beam pipeline on the local runner with 1 and 2
worker processes, and of the folder CLI, in one run; and from the measured per-page rate, what a million
pages cost in worker-hours.

Each configuration runs twice, over a small and a large folder of copies of the bundled real scans
(kuzushiji_tf/sample_data: 5 labelled + 2 test pages, 1.3-3.6 MP JPEGs), as the user runs it (a new
process, models loaded, outputs written). The difference of the two runs gives the per-page rate without
the fixed start-up (Python, TensorFlow and, for Beam, its worker processes); the large run alone gives the
end-to-end rate.

    python benchmarks/beam_recognition.py --model saved_models/kuzushiji_page/1
    python benchmarks/beam_recognition.py --quick          # fewer pages

Without --model the newest saved_models/kuzushiji_page version is used. With --quick and none there (a
fresh clone), tiny untrained models are exported on the spot into the run's temporary folder (as ONNX by
default, --quick-format): the figures are then of the pipeline (start-up, Beam, decode, resize, crops,
reading order, output files), not of a trained model, and the banner says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

SAMPLE = common.REPO / "kuzushiji_tf" / "sample_data"
SCANS = sorted((SAMPLE / "kaggle_5p" / "train_images").glob("*.jpg")) + sorted(
    (SAMPLE / "kaggle_5p" / "test_images").glob("*.jpg")
)
MILLION = 1_000_000


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=None,
        help="exported page recogniser (default: newest saved_models/kuzushiji_page version; "
        "with --quick and none there, a tiny untrained export made on the spot)",
    )
    parser.add_argument(
        "--quick-format",
        choices=("onnx", "savedmodel"),
        default="onnx",
        help="the export made on the spot (default onnx: no TensorFlow start-up in each of the six runs)",
    )
    parser.add_argument("--pages", type=int, default=None, help="pages of the large run (default 8 quick, 42 full)")
    parser.add_argument("--small", type=int, default=None, help="pages of the small run (default 2 quick, 7 full)")
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args(argv)
    args.pages = args.pages or (8 if args.quick else 42)
    args.small = args.small or (2 if args.quick else 7)
    return args


def resolve_model(args, root: Path) -> tuple[str, str]:
    """(the page recogniser to run, what it is): --model; else the newest saved_models/kuzushiji_page
    version; else, with --quick, a tiny untrained export made in `root` on the spot."""
    if args.model:
        return args.model, f"--model {args.model}"
    found = common.newest_page_model()
    if found is not None:
        return str(found), f"newest in {common.PAGE_MODEL_DIR}: {found}"
    if not args.quick:
        raise SystemExit(
            f"{common.PAGE_MODEL_DIR}: no exported page recogniser; pass --model (tools/export.py, "
            "make demo), or --quick to time the pipeline on a tiny untrained export made on the spot"
        )
    common.quiet_tensorflow()
    started = time.perf_counter()
    exports, note = common.on_the_spot_export(
        root / "models", [path.read_bytes() for path in SCANS], formats=(args.quick_format,), seed=args.seed
    )
    model = exports[args.quick_format]
    return str(model), f"{common.no_model_note()} ({note}; made in {time.perf_counter() - started:.0f} s)"


def make_folder(root: Path, pages: int) -> Path:
    folder = root / f"scans-{pages}"
    folder.mkdir(parents=True)
    for k in range(pages):
        source = SCANS[k % len(SCANS)]
        shutil.copyfile(source, folder / f"{k:05d}-{source.name}")
    return folder


CONFIGS = {
    "folder CLI": [],
    "Beam, 1 worker": [
        "--runner",
        "DirectRunner",
        "--direct_num_workers",
        "1",
        "--direct_running_mode",
        "multi_processing",
    ],
    "Beam, 2 workers": [
        "--runner",
        "DirectRunner",
        "--direct_num_workers",
        "2",
        "--direct_running_mode",
        "multi_processing",
    ],
}


def timed_run(folder: Path, out: Path, model: str, extra: list[str], batch_size: int) -> float:
    command = [
        sys.executable,
        str(common.REPO / "tools" / "recognize.py"),
        str(folder),
        "--out",
        str(out),
        "--model",
        model,
        "--quiet",
        "--batch-size",
        str(batch_size),
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main(argv=None) -> int:
    args = parse_args(argv)
    common.banner("Beam recognition: pages/s, local runner, 1 and 2 workers vs the folder CLI", args)
    root = Path(tempfile.mkdtemp(prefix="beam_bench_"))
    try:
        args.model, note = resolve_model(args, root)
        print(f"model   : {note}", flush=True)
        small, large = make_folder(root, args.small), make_folder(root, args.pages)
        figures = {}
        for name, extra in CONFIGS.items():
            t_small = timed_run(small, root / "out-small", args.model, extra, args.batch_size)
            t_large = timed_run(large, root / "out-large", args.model, extra, args.batch_size)
            shutil.rmtree(root / "out-small"), shutil.rmtree(root / "out-large")
            per_page = (t_large - t_small) / (args.pages - args.small)
            figures[name] = (t_small, t_large, per_page)
            print(
                f"{name:16s}: {args.small} pages {t_small:6.1f} s, {args.pages} pages {t_large:6.1f} s -> "
                f"end to end {args.pages / t_large:.2f} pages/s, per page {per_page:.2f} s "
                f"({1 / per_page:.2f} pages/s without start-up {t_small - args.small * per_page:.0f} s)",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = figures["folder CLI"]
    print("\nratios to the folder CLI (same run):")
    for name, (_, t_large, per_page) in figures.items():
        print(f"  {name:16s}: end to end x{base[1] / t_large:.2f}, per page x{base[2] / per_page:.2f}")
    best = min(per_page for _, _, per_page in figures.values())
    hours = MILLION * best / 3600
    print(
        f"\na million pages at the best per-page rate here ({1 / best:.2f} pages/s on this {os.cpu_count()}-core "
        f"machine): {hours:,.0f} machine-hours of {os.cpu_count()} cores, {hours * os.cpu_count():,.0f} core-hours"
    )
    print(common.load_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
