"""The page recogniser on its two backends from the same trained models: the SavedModel (TensorFlow) and
the ONNX export (ONNX Runtime + numpy, `kuzushiji_tf.backends.onnx`). Both are exported into a temp
folder, then each page is recognised one at a time by each backend (after a warm-up page): seconds per
page, and whether the characters agree (count, codes, largest box difference in pixels).

    python benchmarks/onnx_vs_savedmodel.py --detector saved_models/det --classifier saved_models/cls
    python benchmarks/onnx_vs_savedmodel.py --detector ... --classifier ... --pages scans/ --short-side 832

Pages default to the 7 bundled real ones (kuzushiji_tf/sample_data/kaggle_5p, train and test images).
The vocabulary is the classifier folder's vocabulary.csv unless --vocabulary names one.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import common

SAMPLE = common.REPO / "kuzushiji_tf" / "sample_data" / "kaggle_5p"


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--detector", required=True, help="detector training folder (model.keras) or .keras file")
    parser.add_argument("--classifier", required=True, help="classifier training folder (model.keras) or .keras file")
    parser.add_argument("--vocabulary", default=None, help="vocabulary.csv (default: the classifier folder's)")
    parser.add_argument("--pages", default=None, help="a folder of JPEG/PNG pages (default: the 7 bundled real pages)")
    parser.add_argument("--short-side", type=int, default=832, help="inference short side (default 832)")
    parser.add_argument("--det-threshold", type=float, default=0.3)
    parser.add_argument("--cls-threshold", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    parser.add_argument("--rounds", type=int, default=None, help="timed passes over the pages (1 quick, 2 full)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    return args


def page_files(folder: str | None) -> list[Path]:
    if folder:
        return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return sorted((SAMPLE / "train_images").glob("*.jpg")) + sorted((SAMPLE / "test_images").glob("*.jpg"))


def export_both(args, root: Path) -> tuple[Path, Path, float, float]:
    """(SavedModel folder, ONNX folder, seconds of each export)."""
    from kuzushiji_tf.data.records import read_vocabulary
    from kuzushiji_tf.backends.tf.export import export_page_recognizer
    from kuzushiji_tf.recognition.contract import RecognizerOptions
    from kuzushiji_tf.models.saved_models import load_model, resolve_keras_file
    from kuzushiji_tf.backends.onnx.export import export_onnx_recognizer

    vocabulary_dir = Path(args.vocabulary).parent if args.vocabulary else resolve_keras_file(args.classifier).parent
    vocabulary = read_vocabulary(vocabulary_dir)
    detector, classifier = load_model(args.detector), load_model(args.classifier)
    options = RecognizerOptions(short_side=args.short_side, det_threshold=args.det_threshold,
                                cls_threshold=args.cls_threshold)
    started = time.perf_counter()
    saved_model = export_page_recognizer(detector, classifier, vocabulary, root / "kuzushiji_page" / "1", options)
    middle = time.perf_counter()
    onnx = export_onnx_recognizer(detector, classifier, vocabulary, root / "kuzushiji_page_onnx" / "1", options)
    return saved_model, onnx, middle - started, time.perf_counter() - middle


def run_pages(model, pages: list[bytes], rounds: int) -> tuple[list[dict], list[float]]:
    """(each page's results, each page's median seconds over `rounds`), after one warm-up page."""
    from kuzushiji_tf.recognition.contract import page_results

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
    common.banner("page recogniser: SavedModel vs ONNX Runtime", args)
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.backends.tf.saved_model import SavedModelPageModel
    from kuzushiji_tf.backends.onnx import OnnxPageModel

    files = page_files(args.pages)
    pages = [p.read_bytes() for p in files]
    with tempfile.TemporaryDirectory() as tmp:
        saved_model_dir, onnx_dir, tf_export_s, onnx_export_s = export_both(args, Path(tmp))
        print(f"export: SavedModel {tf_export_s:.1f} s, ONNX {onnx_export_s:.1f} s")
        started = time.perf_counter()
        saved_model = SavedModelPageModel(saved_model_dir)
        tf_load_s = time.perf_counter() - started
        started = time.perf_counter()
        onnx = OnnxPageModel(onnx_dir, intra_op_num_threads=args.threads)
        onnx_load_s = time.perf_counter() - started
        assert load_page_model(onnx_dir).backend == "onnx"
        print(f"load  : SavedModel {tf_load_s:.1f} s, ONNX {onnx_load_s:.1f} s")
        tf_results, tf_seconds = run_pages(saved_model, pages, args.rounds)
        onnx_results, onnx_seconds = run_pages(onnx, pages, args.rounds)
    rows = []
    for file, a, b, ta, tb in zip(files, tf_results, onnx_results, tf_seconds, onnx_seconds):
        same_count, differ, box = agreement(a, b)
        rows.append([file.name, len(a["codes"]), len(b["codes"]), ta, tb, tb / ta, "yes" if same_count else "NO",
                     differ, box])
    common.print_table(["page", "chars tf", "chars onnx", "tf s", "onnx s", "onnx/tf", "same count",
                        "codes differ", "max box diff px"], rows, title="per page (median seconds)")
    print(f"\nmean s/page: SavedModel {statistics.mean(tf_seconds):.3f}, ONNX {statistics.mean(onnx_seconds):.3f} "
          f"(ratio {statistics.mean(onnx_seconds) / statistics.mean(tf_seconds):.2f})")
    print(common.load_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
