"""What each step of the synthetic generator is worth on REAL pages: an ablation, rerunnable by anyone.

For each row, synthetic pages are generated with the generator's features switched on one at a time
(none -> +hentaigana -> +handwriting -> +pages, all four with i.i.d. characters as the generator drew them
then, -> +real text: the same pages writing the shipped classical text, `--text sample`), records built, a classifier trained at one stated size,
and `tools/measure_real.py` measures it on the 5 labelled real pages (the test set: nothing here trains
on them). Detectors are trained for the rows named in --detector-rows. The last row then self-trains on
real unlabelled scans (pseudo-labels of the bundled `unlabelled_real` pages, fine-tuning), and its models
are exported as a page recogniser for the Kaggle F1. Each command is printed before it runs.

    python benchmarks/real_ablation.py --out ablation            # ~1 h on 2 cores at the default size
    python benchmarks/real_ablation.py --quick                   # < 3 minutes: the chain, untrained

Rows accumulate in OUT/table.md (markdown) and OUT/<row>.json. The real pages measured are --data-dir,
the bundled kuzushiji_tf/sample_data/kaggle_5p by default.

--quick trains nothing: for the first and last rows (font pages, + pages) it generates a few small
synthetic pages and builds their records as the full run does, then measures tiny UNTRAINED models
(a tiny CenterNet and MobileNetV3Small over the row's vocabulary) with tools/measure_real.py, and skips
self-training; --out defaults to a temporary folder, removed afterwards. It checks that the chain and the
measurement run; its accuracy figures are meaningless (untrained models), and it says so. A smoke run of
the whole chain with training, as --quick was before: --out ablation --pages 8 --test-pages 2 --books 4
--page-height 800 --classifier-epochs 1 --classifier-crops 256 --detector-steps 6 --finetune-epochs 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # benchmarks/common.py, beside this file

REPO = Path(__file__).resolve().parents[1]
REAL_SCANS = common.SAMPLE_UNLABELLED_DIR
REAL_PAGES = common.SAMPLE_KAGGLE_DIR  # the 5 labelled real pages: measured, never trained on
QUICK_ROWS = "none;all"  # --quick: the ablation's two ends
# (label, the row's name for --rows and --detector-rows, make_synthetic's --features, its --text)
ROWS = (
    ("font pages", "none", "none", "iid"),
    ("+ hentaigana", "hentaigana", "hentaigana", "iid"),
    ("+ handwriting", "hentaigana,handwriting", "hentaigana,handwriting", "iid"),
    ("+ pages", "all", "all", "iid"),
    ("+ real text", "text", "all", "sample"),
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out",
        default=None,
        help="working folder (data, records, models, table.md); required without --quick, a temporary folder with it",
    )
    p.add_argument(
        "--data-dir",
        default=str(REAL_PAGES),
        help="labelled real pages to measure on (Kaggle layout), default the bundled 5 pages",
    )
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
    p.add_argument(
        "--detector-rows",
        default="none,all",
        help="features of the rows that also train a detector (comma list), default %(default)s",
    )
    p.add_argument(
        "--rows",
        default=None,
        help=f"which rows to run, by their names (';'-separated: {';'.join(r[1] for r in ROWS)}), default all "
        f"({QUICK_ROWS!r} with --quick)",
    )
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument(
        "--real-scans",
        nargs="+",
        default=[str(REAL_SCANS)],
        help="real scans WITHOUT labels for self-training (folders, globs or files); default: the "
        "bundled unlabelled_real pages",
    )
    p.add_argument(
        "--self-train-only",
        action="store_true",
        help="skip the rows; self-train the last detector row's models already in --out",
    )
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--quick",
        action="store_true",
        help="no training: two rows of tiny data measured with tiny untrained models (meaningless "
        "figures); checks the chain in < 3 minutes",
    )
    args = p.parse_args(argv)
    if args.out is None and not args.quick:
        p.error("--out is required without --quick")
    if args.rows is None:
        args.rows = QUICK_ROWS if args.quick else ";".join(r[1] for r in ROWS)
    if args.quick:
        args.pages, args.test_pages, args.books, args.page_height = 8, 2, 4, 800  # 4 books fill the folds
    return args


def untrained_models(records: Path, cls: Path, det: Path, seed: int) -> None:
    """--quick: tiny untrained models saved as training runs leave them (det/model.keras; cls/model.keras
    and the records' vocabulary.csv), for tools/measure_real.py."""
    vocabulary = (records / "vocabulary.csv").read_text(encoding="utf-8")
    classes = len(vocabulary.strip().splitlines()) - 1
    detector, classifier, _ = common.untrained_page_models("tiny", seed=seed, classes=classes)
    for folder, model in ((det, detector), (cls, classifier)):
        folder.mkdir(parents=True, exist_ok=True)
        model.save(folder / "model.keras")
    (cls / "vocabulary.csv").write_text(vocabulary, encoding="utf-8")


def run(command: list[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out is not None:
        return ablation(args, Path(args.out).resolve())
    out = Path(tempfile.mkdtemp(prefix="real_ablation_"))
    try:
        return ablation(args, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def ablation(args, out: Path) -> int:
    py = sys.executable
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        print(
            "--quick: nothing is trained; tiny UNTRAINED models are measured on the real pages, so the accuracy "
            "figures below are meaningless: this run checks the chain (generation, records, measurement) only. "
            f"Working folder {out}" + ("" if args.out else " (temporary, removed at the end)"),
            flush=True,
        )
    table = out / "table.md"
    wanted = {f.strip() for f in args.rows.split(";") if f.strip()} or {r[1] for r in ROWS}
    detector_rows = {f.strip() for f in args.detector_rows.split(",")}
    if not table.exists():
        table.write_text(
            "| row | cls top-1 | kana | kanji | det F1 | Kaggle F1 | det-only F1 |\n|---|---|---|---|---|---|---|\n"
        )
    last = None
    for label, features, generator_features, text in ROWS:
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
        run(
            [
                py,
                "tools/make_synthetic.py",
                "--out",
                str(data),
                "--pages",
                str(args.pages),
                "--test-pages",
                str(args.test_pages),
                "--books",
                str(args.books),
                "--page-height",
                str(args.page_height),
                "--seed",
                str(args.seed),
                "--features",
                generator_features,
                "--text",
                text,
                "--workers",
                str(args.workers),
                "--overwrite",
            ]
        )
        run(
            [
                py,
                "tools/build_records.py",
                "--data-dir",
                str(data),
                "--out",
                str(records),
                "--workers",
                str(args.workers),
                "--overwrite",
                "--quiet",
            ]
        )
        if args.quick:
            print(f"  (--quick: untrained tiny models in {cls.name} and {det.name}, not trained)", flush=True)
            untrained_models(records, cls, det, args.seed)
        else:
            run(
                [
                    py,
                    "-m",
                    "kuzushiji_tf.train",
                    "--task",
                    "classifier",
                    "--records",
                    str(records),
                    "--out",
                    str(cls),
                    "--epochs",
                    str(args.classifier_epochs),
                    "--crops-per-epoch",
                    str(args.classifier_crops),
                    "--input-size",
                    str(args.classifier_input),
                    "--batch-size",
                    "64",
                    "--eval-every",
                    str(args.classifier_epochs),
                    "--log-every-steps",
                    "100",
                    "--seed",
                    str(args.seed),
                ]
            )
        measure = [
            py,
            "tools/measure_real.py",
            "--classifier",
            str(cls),
            "--label",
            f"{label} (untrained: meaningless)" if args.quick else label,
            "--data-dir",
            args.data_dir,
            "--json",
            str(out / f"{tag}.json"),
            "--append-table",
            str(table),
            "--quiet",
        ]
        if args.quick:
            measure += ["--detector", str(det)]
        elif features in detector_rows:
            steps = max(1, args.detector_steps // 3)
            run(
                [
                    py,
                    "-m",
                    "kuzushiji_tf.train",
                    "--task",
                    "detector",
                    "--records",
                    str(records),
                    "--out",
                    str(det),
                    "--epochs",
                    "3",
                    "--steps-per-epoch",
                    str(steps),
                    "--batch-size",
                    "8",
                    "--input-size",
                    str(args.detector_input),
                    "--eval-short-side",
                    str(args.detector_input * 2),
                    "--optimizer",
                    "adamw",
                    "--lr",
                    "1e-3",
                    "--eval-every",
                    "3",
                    "--log-every-steps",
                    "50",
                    "--seed",
                    str(args.seed),
                ]
            )
            measure += ["--detector", str(det)]
            last = (tag, label, records, cls, det)
        run(measure)
    if args.quick:
        print("self-training skipped: it fine-tunes a classifier, and --quick trains nothing", flush=True)
    elif last is not None:
        tag, label, records, cls, det = last
        bundled = len(args.real_scans) == 1 and Path(args.real_scans[0]) == REAL_SCANS
        suffix = "" if bundled else "-other-scans"
        pseudo, tuned = out / f"real-pseudo-{tag}{suffix}", out / f"cls-{tag}-selftrained{suffix}"
        # export.py writes the detector and classifier beside the page model: one folder per export.
        page = out / f"export-{tag}-selftrained{suffix}" / "kuzushiji_page" / "1"
        run(
            [
                py,
                "tools/pseudo_label.py",
                "--detector",
                str(det),
                "--classifier",
                str(cls),
                "--records",
                str(records),
                "--images",
                *args.real_scans,
                "--out",
                str(pseudo),
                "--short-side",
                str(args.detector_input * 2),
                "--quiet",
            ]
        )
        scans = json.loads((pseudo / "manifest.json").read_text())["pages_labelled"]  # as pseudo_label counted them
        run(
            [
                py,
                "-m",
                "kuzushiji_tf.train",
                "--task",
                "classifier",
                "--records",
                str(records),
                "--out",
                str(tuned),
                "--init",
                str(cls),
                "--pseudo",
                str(pseudo),
                "--epochs",
                str(args.finetune_epochs),
                "--crops-per-epoch",
                str(args.classifier_crops),
                "--batch-size",
                "64",
                "--eval-every",
                str(args.finetune_epochs),
                "--log-every-steps",
                "100",
                "--seed",
                str(args.seed),
            ]
        )
        run(
            [
                py,
                "tools/export.py",
                "--detector",
                str(det),
                "--classifier",
                str(tuned),
                "--out",
                str(page),
                "--short-side",
                str(args.detector_input * 2),
            ]
        )
        run(
            [
                py,
                "tools/measure_real.py",
                "--classifier",
                str(tuned),
                "--detector",
                str(det),
                "--recognizer",
                str(page),
                "--data-dir",
                args.data_dir,
                "--label",
                f"{label} + self-training on {scans} real scans",
                "--json",
                str(out / f"{tag}-selftrained{suffix}.json"),
                "--append-table",
                str(table),
                "--quiet",
            ]
        )
    print("\n" + table.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
