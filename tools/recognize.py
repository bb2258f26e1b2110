"""Recognise a folder of page scans: per page its text in reading order (.txt) and data (.json), plus summary.csv.

    python tools/recognize.py scans/ --out ocr/ [--model saved_models/kuzushiji_page/1] [--visualize]
    python tools/recognize.py page1.jpg page2.png --out ocr/

SCANS is one folder (searched recursively for JPEG, PNG and TIFF) or a list of files. For each page it
writes OUT/<relative path>.txt (one column a line) and OUT/<relative path>.json (image size; for each
character its code point, character, box, scores, column and reading position). A rerun skips pages that
are complete, so a killed run continues; --force redoes them. A bad file is reported in summary.csv and
the run goes on; the exit status is 1 when any page failed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_MODELS = Path("saved_models") / "kuzushiji_page"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scans", nargs="+", help="a folder of scans, or page files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", help=f"exported page recogniser (default: the newest version in {DEFAULT_MODELS})")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--force", action="store_true", help="redo pages whose outputs are already complete")
    p.add_argument("--visualize", action="store_true", help="also write OUT/<relative path>.png with the boxes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def newest_version(models: Path) -> Path:
    versions = sorted((p for p in models.glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()),
                      key=lambda p: int(p.name))
    if not versions:
        raise FileNotFoundError(f"{models}: no exported page recogniser; pass --model or run tools/export.py")
    return versions[-1]


def main(argv=None) -> int:
    args = parse_args(argv)
    from kuzushiji_tf.inference.folder_recognition import find_scans

    try:
        scans = find_scans(args.scans)
        if not scans:
            raise FileNotFoundError(f"{' '.join(args.scans)}: no JPEG, PNG or TIFF files found")
        for scan in scans:
            if not scan.path.is_file():
                raise FileNotFoundError(f"{scan.path}: no such file")
        model = Path(args.model) if args.model else newest_version(DEFAULT_MODELS)
        if not (model / "saved_model.pb").is_file():
            raise FileNotFoundError(f"{model}: no saved_model.pb; export one with tools/export.py")
    except (FileNotFoundError, ValueError) as error:
        print(f"recognize: error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.inference.export import load_recognizer
    from kuzushiji_tf.inference.folder_recognition import SUMMARY, recognize_folder

    serve, vocabulary = load_recognizer(model)
    start = time.perf_counter()
    rows = recognize_folder(serve, vocabulary, scans, args.out, batch_size=args.batch_size, force=args.force,
                            visualize=args.visualize, progress=not args.quiet,
                            log=lambda line: print(f"recognize: {line}", flush=True))
    seconds = time.perf_counter() - start
    done = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    for row in failed:
        print(f"recognize: failed: {row['page']}: {row['error']}", file=sys.stderr)
    print(f"recognize: {len(done)} recognised, {len(rows) - len(done) - len(failed)} already done, {len(failed)} failed "
          f"in {seconds:.1f}s ({len(done) / max(seconds, 1e-9):.2f} pages/s) -> {Path(args.out) / SUMMARY}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
