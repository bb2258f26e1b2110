"""What each step of the synthetic generator is worth on REAL pages: an ablation, rerunnable by anyone.

For each row, synthetic pages are generated with the generator's features switched on one at a time
(none -> +hentaigana -> +handwriting -> +pages), records built, a classifier trained at one stated size,
and `tools/measure_real.py` measures it on the 5 labelled real pages (the test set: nothing here trains
on them). Detectors are trained for the rows named in --detector-rows. The last row then self-trains on
real unlabelled scans (pseudo-labels of the bundled `unlabelled_real` pages, fine-tuning), and its models
are exported as a page recogniser for the Kaggle F1. Each command is printed before it runs.

    python benchmarks/real_ablation.py --out ablation            # ~1 h on 2 cores at the default size
    python benchmarks/real_ablation.py --out ablation --quick    # a smoke run of the whole chain

Rows accumulate in OUT/table.md (markdown) and OUT/<row>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_SCANS = REPO / "kuzushiji_tf" / "sample_data" / "unlabelled_real" / "images"
ROWS = (("font pages", "none"), ("+ hentaigana", "hentaigana"), ("+ handwriting", "hentaigana,handwriting"),
        ("+ pages", "all"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="working folder (data, records, models, table.md)")
    p.add_argument("--pages", type=int, default=160)
    p.add_argument("--test-pages", type=int, default=16)
    p.add_argument("--books", type=int, default=12)
    p.add_argument("--page-height", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier-epochs", type=int, default=20)
    p.add_argument("--classifier-crops", type=int, default=8000)
    p.add_argument("--classifier-input", type=int, default=64)
    p.add_argument("--detector-steps", type=int, default=300)
    p.add_argument("--detector-input", type=int, default=256)
    p.add_argument("--detector-rows", default="none,all",
                   help="features of the rows that also train a detector (comma list), default %(default)s")
    p.add_argument("--rows", default=";".join(f for _, f in ROWS),
                   help="which rows to run, by their features (';'-separated), default all four")
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--real-scans", nargs="+", default=[str(REAL_SCANS)],
                   help="real scans WITHOUT labels for self-training (folders, globs or files); default: the "
                        "bundled unlabelled_real pages")
    p.add_argument("--self-train-only", action="store_true",
                   help="skip the rows; self-train the last detector row's models already in --out")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the chain, measures nothing useful")
    args = p.parse_args(argv)
    if args.quick:
        args.pages, args.test_pages, args.books, args.page_height = 8, 2, 4, 800
        args.classifier_epochs, args.classifier_crops, args.detector_steps, args.finetune_epochs = 1, 256, 6, 1
    return args


def run(command: list[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    py, out = sys.executable, Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    table = out / "table.md"
    wanted = {f.strip() for f in args.rows.split(";") if f.strip()} or {f for _, f in ROWS}
    detector_rows = {f.strip() for f in args.detector_rows.split(",")}
    if not table.exists():
        table.write_text("| row | cls top-1 | kana | kanji | det F1 | Kaggle F1 | det-only F1 |\n|---|---|---|---|---|---|---|\n")
    last = None
    for label, features in ROWS:
        if features not in wanted:
            continue
        if args.self_train_only:
            tag = features.replace(",", "+")
            if features in detector_rows:
                last = (tag, label, out / f"records-{tag}", out / f"cls-{tag}", out / f"det-{tag}")
            continue
        tag = features.replace(",", "+")
        data, records = out / f"data-{tag}", out / f"records-{tag}"
        cls, det = out / f"cls-{tag}", out / f"det-{tag}"
        run([py, "tools/make_synthetic.py", "--out", str(data), "--pages", str(args.pages), "--test-pages",
             str(args.test_pages), "--books", str(args.books), "--page-height", str(args.page_height), "--seed",
             str(args.seed), "--features", features, "--workers", str(args.workers), "--overwrite"])
        run([py, "tools/build_records.py", "--data-dir", str(data), "--out", str(records), "--workers",
             str(args.workers), "--overwrite", "--quiet"])
        run([py, "-m", "kuzushiji_tf.train", "--task", "classifier", "--records", str(records), "--out", str(cls),
             "--epochs", str(args.classifier_epochs), "--crops-per-epoch", str(args.classifier_crops),
             "--input-size", str(args.classifier_input), "--batch-size", "64", "--eval-every",
             str(args.classifier_epochs), "--log-every-steps", "100", "--seed", str(args.seed)])
        measure = [py, "tools/measure_real.py", "--classifier", str(cls), "--label", label, "--json",
                   str(out / f"{tag}.json"), "--append-table", str(table), "--quiet"]
        if features in detector_rows:
            steps = max(1, args.detector_steps // 3)
            run([py, "-m", "kuzushiji_tf.train", "--task", "detector", "--records", str(records), "--out", str(det),
                 "--epochs", "3", "--steps-per-epoch", str(steps), "--batch-size", "8", "--input-size",
                 str(args.detector_input), "--eval-short-side", str(args.detector_input * 2), "--optimizer", "adamw",
                 "--lr", "1e-3", "--eval-every", "3", "--log-every-steps", "50", "--seed", str(args.seed)])
            measure += ["--detector", str(det)]
            last = (tag, label, records, cls, det)
        run(measure)
    if last is not None:
        tag, label, records, cls, det = last
        bundled = len(args.real_scans) == 1 and Path(args.real_scans[0]) == REAL_SCANS
        suffix = "" if bundled else "-other-scans"
        pseudo, tuned = out / f"real-pseudo-{tag}{suffix}", out / f"cls-{tag}-selftrained{suffix}"
        # export.py writes the detector and classifier beside the page model: one folder per export.
        page = out / f"export-{tag}-selftrained{suffix}" / "kuzushiji_page" / "1"
        run([py, "tools/pseudo_label.py", "--detector", str(det), "--classifier", str(cls), "--records",
             str(records), "--images", *args.real_scans, "--out", str(pseudo), "--short-side",
             str(args.detector_input * 2), "--quiet"])
        scans = json.loads((pseudo / "manifest.json").read_text())["pages_labelled"]  # as pseudo_label counted them
        run([py, "-m", "kuzushiji_tf.train", "--task", "classifier", "--records", str(records), "--out", str(tuned),
             "--init", str(cls), "--pseudo", str(pseudo), "--epochs", str(args.finetune_epochs), "--crops-per-epoch",
             str(args.classifier_crops), "--batch-size", "64", "--eval-every", str(args.finetune_epochs),
             "--log-every-steps", "100", "--seed", str(args.seed)])
        run([py, "tools/export.py", "--detector", str(det), "--classifier", str(tuned), "--out", str(page),
             "--short-side", str(args.detector_input * 2)])
        run([py, "tools/measure_real.py", "--classifier", str(tuned), "--detector", str(det), "--recognizer",
             str(page), "--label", f"{label} + self-training on {scans} real scans",
             "--json", str(out / f"{tag}-selftrained{suffix}.json"), "--append-table", str(table), "--quiet"])
    print("\n" + table.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
