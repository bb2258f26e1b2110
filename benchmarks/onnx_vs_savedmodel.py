"""The page recogniser on its two backends from the same trained models: the SavedModel (TensorFlow) and
the ONNX export (ONNX Runtime + numpy, `kuzushiji_tf.backends.onnx`). Both are exported into a temp
folder, then each page is recognised one at a time by each backend (after a warm-up page): seconds per
page, and whether the characters agree (count, codes, largest box difference in pixels).

    python benchmarks/onnx_vs_savedmodel.py --detector saved_models/det --classifier saved_models/cls
    python benchmarks/onnx_vs_savedmodel.py --detector ... --classifier ... --pages scans/ --short-side 832

    python benchmarks/onnx_vs_savedmodel.py --quick      # no models: tiny untrained ones, made on the spot

Pages default to the 7 bundled real ones (kuzushiji_tf/sample_data/kaggle_5p, train and test images).
The vocabulary is the classifier folder's vocabulary.csv unless --vocabulary names one.

With --quick and no --detector / --classifier, tiny untrained models are built and exported on the spot
(the detector's heatmap bias tuned to ~128 characters a page, class threshold 0 so every character comes
out): the seconds are then of the two pipelines (decode, resize, tiny forward passes, crops, outputs), not
of a trained model, and whether the backends agree still checks the export. Without --quick both are needed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import common

SAMPLE = common.SAMPLE_KAGGLE_DIR


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--detector",
        default=None,
        help="detector training folder (model.keras) or .keras file (with --quick: optional)",
    )
    parser.add_argument(
        "--classifier",
        default=None,
        help="classifier training folder (model.keras) or .keras file (with --quick: optional)",
    )
    parser.add_argument("--vocabulary", default=None, help="vocabulary.csv (default: the classifier folder's)")
    parser.add_argument("--pages", default=None, help="a folder of JPEG/PNG pages (default: the 7 bundled real pages)")
    parser.add_argument(
        "--short-side", type=int, default=common.INFERENCE_SHORT_SIDE, help="inference short side (default %(default)s)"
    )
    parser.add_argument("--det-threshold", type=float, default=0.3)
    parser.add_argument(
        "--cls-threshold",
        type=float,
        default=None,
        help="class threshold (default 0.5; 0 for untrained models, so every character comes out)",
    )
    parser.add_argument("--chars", type=int, default=128, help="characters a page an untrained detector is tuned to")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    parser.add_argument("--rounds", type=int, default=None, help="timed passes over the pages (1 quick, 2 full)")
    args = parser.parse_args(argv)
    if (args.detector is None) != (args.classifier is None):
        parser.error("--detector and --classifier go together")
    if args.detector is None and not args.quick:
        parser.error("--detector and --classifier are required without --quick")
    args.rounds = args.rounds or (1 if args.quick else 2)
    if args.cls_threshold is None:
        args.cls_threshold = 0.5 if args.detector else 0.0
    return args


def page_files(folder: str | None) -> list[Path]:
    if folder:
        return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return sorted((SAMPLE / "train_images").glob("*.jpg")) + sorted((SAMPLE / "test_images").glob("*.jpg"))


def export_both(args, root: Path, pages: list[bytes]) -> tuple[Path, Path, float, float, str]:
    """(SavedModel folder, ONNX folder, seconds of each export, what the models are)."""
    if args.detector:
        from kuzushiji_tf.data.records import read_vocabulary

        vocabulary_dir = Path(args.vocabulary).parent if args.vocabulary else common.keras_file(args.classifier).parent
        vocabulary = read_vocabulary(vocabulary_dir)
        detector, classifier = common.load_trained_model(args.detector), common.load_trained_model(args.classifier)
        note = f"detector {args.detector}, classifier {args.classifier}"
    else:
        vocabulary = None
        detector, classifier, note = common.untrained_page_models("tiny", seed=args.seed)
        peaks = common.tune_untrained_detector(
            detector, common.decode_pages(pages), args.det_threshold, args.chars, short_side=args.short_side
        )
        note = (
            f"{common.no_model_note('--detector/--classifier')} ({note}; heatmap bias tuned to "
            f"{sum(peaks) / len(peaks):.0f} peaks a page on average, fewer characters after NMS)"
        )
    options = {
        "vocabulary": vocabulary,
        "short_side": args.short_side,
        "det_threshold": args.det_threshold,
        "cls_threshold": args.cls_threshold,
    }
    started = time.perf_counter()
    saved_model = common.export_recognizer(detector, classifier, root / "kuzushiji_page" / "1", **options)
    middle = time.perf_counter()
    onnx = common.export_recognizer(detector, classifier, root / "kuzushiji_page_onnx" / "1", fmt="onnx", **options)
    return saved_model, onnx, middle - started, time.perf_counter() - middle, note


def run_pages(model, pages: list[bytes], rounds: int) -> tuple[list[dict], list[float]]:
    """(each page's results, each page's median seconds over `rounds`), after one warm-up page."""
    from kuzushiji_tf.recognition.postprocess import page_results

    model([pages[0]])
    seconds = [[] for _ in pages]
    results = []
    for round_ in range(rounds):
        for i, page in enumerate(pages):
            started = time.perf_counter()
            outputs = model([page])
            seconds[i].append(time.perf_counter() - started)
            if round_ == 0:
                results.append(page_results(outputs))
    return results, [statistics.median(s) for s in seconds]


def agreement(a: dict, b: dict) -> tuple[bool, int, float]:
    """(same count, codes that differ, largest box difference in pixels) with characters matched by box:
    tied scores may list characters in another order."""
    from kuzushiji_tf.recognition.contract import CODES, OUT_BOXES

    n = len(a[CODES])
    if n != len(b[CODES]):
        return False, -1, float("nan")
    if n == 0:
        return True, 0, 0.0
    distance = np.abs(b[OUT_BOXES][:, None, :] - a[OUT_BOXES][None, :, :]).max(axis=2)
    match = distance.argmin(axis=1)
    differ = sum(a[CODES][j] != code for j, code in zip(match, b[CODES]))
    return True, int(differ), float(distance[np.arange(n), match].max())


def main(argv=None) -> int:
    args = parse_args(argv)
    common.quiet_tensorflow()
    common.banner("page recogniser: SavedModel vs ONNX Runtime", args)
    from kuzushiji_tf.backends.onnx import OnnxPageModel
    from kuzushiji_tf.backends.tf.saved_model import SavedModelPageModel

    files = page_files(args.pages)
    pages = [p.read_bytes() for p in files]
    with tempfile.TemporaryDirectory() as tmp:
        saved_model_dir, onnx_dir, tf_export_s, onnx_export_s, note = export_both(args, Path(tmp), pages)
        print(f"models: {note}")
        print(f"export: SavedModel {tf_export_s:.1f} s, ONNX {onnx_export_s:.1f} s")
        started = time.perf_counter()
        saved_model = SavedModelPageModel(saved_model_dir)
        tf_load_s = time.perf_counter() - started
        started = time.perf_counter()
        onnx = OnnxPageModel(onnx_dir, intra_op_num_threads=args.threads)
        onnx_load_s = time.perf_counter() - started
        assert common.load_page_model(onnx_dir).backend == "onnx"
        print(f"load  : SavedModel {tf_load_s:.1f} s, ONNX {onnx_load_s:.1f} s")
        tf_results, tf_seconds = run_pages(saved_model, pages, args.rounds)
        onnx_results, onnx_seconds = run_pages(onnx, pages, args.rounds)
    rows = []
    for file, a, b, ta, tb in zip(files, tf_results, onnx_results, tf_seconds, onnx_seconds):
        same_count, differ, box = agreement(a, b)
        rows.append(
            [file.name, len(a["codes"]), len(b["codes"]), ta, tb, tb / ta, "yes" if same_count else "NO", differ, box]
        )
    common.print_table(
        [
            "page",
            "chars tf",
            "chars onnx",
            "tf s",
            "onnx s",
            "onnx/tf",
            "same count",
            "codes differ",
            "max box diff px",
        ],
        rows,
        title="per page (median seconds)",
    )
    print(
        f"\nmean s/page: SavedModel {statistics.mean(tf_seconds):.3f}, ONNX {statistics.mean(onnx_seconds):.3f} "
        f"(ratio {statistics.mean(onnx_seconds) / statistics.mean(tf_seconds):.2f})"
    )
    print(common.load_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
