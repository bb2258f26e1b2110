"""`python -m kuzushiji_tf.demo` (what `make demo` runs): the whole pipeline on the embedded default.

synthetic pages -> records -> detector -> classifier -> pseudo-labels (synthetic test pages, and real scans
without labels) -> fine-tune -> export -> submission for the synthetic test pages with its F1 -> detection F1,
transcription and visualisation of the bundled labelled real pages (the real test set, never trained on)
-> a real scan recognised into every output format by `kuzushiji-recognize` -> the model shipped with
kuzushiji_tf measured on the same real pages, beside the demo's (skipped when none is shipped).
Everything, the exported page recogniser too, stays in --out (<out>/saved_models/kuzushiji_page/1): the later
stages pass it as --model, and the other commands, which use the shipped model unless given --model, never
pick it up. Each step runs the command a user would type (printed before it runs, `kuzushiji-train ...`; run
here as `python -m kuzushiji_tf.cli.train ...` with this Python), so the demo is also the tutorial. It runs
from any folder: --out is relative to the current directory, the sample data comes from the package.
Sizes are cut to fit about 20 minutes on 2 CPU cores; docs/training.md gives the full-size commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from kuzushiji_tf.cli.errors import user_errors
from kuzushiji_tf.cli.stages import StageFailed, run_stage
from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR, SAMPLE_UNLABELLED_DIR
from kuzushiji_tf.pretrained import SHIPPED, shipped_model_available, shipped_model_dir

PROG = "demo"
SAMPLE_DIR = SAMPLE_KAGGLE_DIR
REAL_SCANS = SAMPLE_UNLABELLED_DIR  # 6 real pages without labels
REAL_PAGE = "100241706_00005_1"
FORMATS_PAGE = REAL_SCANS / "200010454_00005_1.jpg"  # recognised into every output format at the end


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo_out", help="folder for every output (default %(default)s)")
    p.add_argument("--pages", type=int, default=160, help="synthetic training pages (default %(default)s)")
    p.add_argument("--test-pages", type=int, default=16, help="synthetic test pages (default %(default)s)")
    p.add_argument("--books", type=int, default=12, help="synthetic books (default %(default)s)")
    p.add_argument("--page-height", type=int, default=2000, help="synthetic page height in pixels")
    p.add_argument("--detector-backbone", default="resnet18", help="`resnet_tiny` makes a smoke run")
    # 192 px steps cost 0.6 of 256 px ones on 2 cores (0.9 against 0.54 steps/s). 180 of them left the real
    # pages' detection F1 at 0.87-0.89 in four demo runs; 360 gave 0.899-0.911 in three (docs/experiments.md) for
    # about 4 minutes more, which brings the demo near its 20-minute budget.
    p.add_argument("--detector-steps", type=int, default=360, help="detector training steps")
    p.add_argument("--detector-batch", type=int, default=8)
    p.add_argument(
        "--detector-input",
        type=int,
        default=192,
        help="training crop side; the inference short side keeps the recipe's ratio (2x)",
    )
    # 9, not 7: the classifier is otherwise too unsure of real characters for the 0.5 class threshold
    # (Kaggle F1 0.184 against 0.202, docs/experiments.md); 13 min in all on 2 cores.
    p.add_argument("--classifier-epochs", type=int, default=9)
    p.add_argument("--classifier-crops", type=int, default=8000, help="crops per classifier epoch")
    p.add_argument("--classifier-input", type=int, default=64)
    p.add_argument("--classifier-batch", type=int, default=64)
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes, default one per core")
    return p.parse_args(argv)


class Stages:
    """Runs each stage, times it, and keeps one figure per stage for the closing table."""

    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []

    def run(self, name: str, stem: str, arguments: list[str]) -> str:
        """Runs the command `stem` (kuzushiji_tf.cli.<stem>) with `arguments` (`stages.run_stage`)."""
        try:
            output, self.last_seconds = run_stage(name, stem, arguments)
        except StageFailed as error:
            raise SystemExit(f"demo: {error}") from None
        return output

    def add(self, name: str, figure: str, seconds: float | None = None) -> None:
        self.rows.append((name, self.last_seconds if seconds is None else seconds, figure))

    def table(self) -> str:
        width = max(len(name) for name, _, _ in self.rows)
        lines = [f"{'stage':<{width}}  {'time':>7}  figure", f"{'-' * width}  {'-' * 7}  {'-' * 40}"]
        lines += [f"{name:<{width}}  {seconds:6.0f}s  {figure}" for name, seconds, figure in self.rows]
        total = sum(seconds for _, seconds, _ in self.rows)
        return "\n".join(lines + [f"{'total':<{width}}  {total:6.0f}s"])


def _real_figure(real: dict) -> str:
    """One line of kuzushiji-measure-real's JSON: what the demo's models do on the 5 labelled real pages."""
    cls, det, rec = real.get("classifier", {}), real.get("detector", {}), real.get("recognizer", {})

    def get(d, *keys):
        for key in keys:
            d = d.get(key, {}) if isinstance(d, dict) else {}
        return d if isinstance(d, (int, float)) else float("nan")

    return (
        f"5 real pages (never trained on): classifier top-1 {get(cls, 'overall', 'top1'):.3f} on true boxes "
        f"(kana {get(cls, 'kana', 'top1'):.3f}, kanji {get(cls, 'kanji', 'top1'):.3f}); read as columns "
        f"{get(cls, 'context', 'top1_alone'):.3f} alone, {get(cls, 'context', 'top1_context'):.3f} in context; "
        f"detection F1 {get(det, 'detection', 'f1'):.3f} (research output: "
        f"{get(rec, 'research_detection', 'f1'):.3f}); Kaggle F1 {get(rec, 'labelled_alone', 'f1'):.3f} alone, "
        f"{get(rec, 'labelled', 'f1'):.3f} in context"
    )


def _files_figure(folder: Path) -> str:
    """The files kuzushiji-recognize wrote, by suffix: `<page>.txt, .json, ... + tei.xml, summary.csv`."""
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    page = FORMATS_PAGE.name
    own = [name[len(page) :] for name in names if name.startswith(page)]
    others = [name for name in names if not name.startswith(page)]
    return f"{len(names)} files in {folder}: {page}{', '.join(own)} + {', '.join(others)}"


def _history(folder: Path) -> dict:
    return json.loads((folder / "history.json").read_text())[-1]


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    workers = str(args.workers or os.cpu_count() or 1)
    synth, records, sample_records = out / "synthetic", out / "records" / "synthetic", out / "records" / "sample"
    models = out / "saved_models"
    det, cls, tuned = models / "detector", models / "classifier", models / "classifier_finetuned"
    page_model = models / "kuzushiji_page" / "1"  # the demo's own; removed with `models` at each run
    stages = Stages()
    out.mkdir(parents=True, exist_ok=True)
    # The data is generated anew (--overwrite), so models of an earlier demo must not be resumed from.
    shutil.rmtree(models, ignore_errors=True)

    stages.run(
        "synthetic pages",
        "make_synthetic",
        [
            "--out",
            str(synth),
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
            "--workers",
            workers,
            "--overwrite",
        ],
    )
    stages.add("synthetic pages", f"{args.pages} train + {args.test_pages} test pages, {args.books} books")
    log = stages.run(
        "records",
        "build_records",
        ["--data-dir", str(synth), "--out", str(records), "--workers", workers, "--overwrite", "--quiet"],
    )
    stages.add("records", log.strip().splitlines()[0] if log.strip() else "")
    stages.run(
        "records (real sample)",
        "build_records",
        [
            "--data-dir",
            str(SAMPLE_DIR),
            "--out",
            str(sample_records),
            "--full-data",
            "--workers",
            workers,
            "--overwrite",
            "--quiet",
        ],
    )
    stages.add("records (real sample)", "5 real pages, 464 characters")

    steps_per_epoch = max(1, args.detector_steps // 3)
    stages.run(
        "detector",
        "train",
        [
            "--task",
            "detector",
            "--records",
            str(records),
            "--out",
            str(det),
            "--epochs",
            "3",
            "--steps-per-epoch",
            str(steps_per_epoch),
            "--backbone",
            args.detector_backbone,
            "--batch-size",
            str(args.detector_batch),
            "--input-size",
            str(args.detector_input),
            "--eval-short-side",
            str(args.detector_input * 2),
            "--optimizer",
            "adamw",
            "--lr",
            "1e-3",
            "--lr-drops",
            "0.8",
            "--eval-every",
            "3",
            "--log-every-steps",
            "50",
            "--seed",
            str(args.seed),
        ],
    )
    h = _history(det)
    stages.add("detector", f"val detection F1 {h.get('val_det_f1', float('nan')):.3f} ({3 * steps_per_epoch} steps)")

    stages.run(
        "classifier",
        "train",
        [
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
            str(args.classifier_batch),
            "--eval-every",
            str(args.classifier_epochs),
            "--log-every-steps",
            "50",
            "--seed",
            str(args.seed),
        ],
    )
    h = _history(cls)
    stages.add(
        "classifier", f"val top-1 {h.get('val_top1', float('nan')):.3f}, top-5 {h.get('val_top5', float('nan')):.3f}"
    )

    log = stages.run(
        "pseudo-labels",
        "pseudo_label",
        [
            "--detector",
            str(det),
            "--classifier",
            str(cls),
            "--records",
            str(records),
            "--out",
            str(records / "pseudo"),
            "--short-side",
            str(args.detector_input * 2),
            "--truth",
            str(synth / "test_truth.csv"),
            "--quiet",
        ],
    )
    pseudo = json.loads((records / "pseudo" / "manifest.json").read_text())
    precision = pseudo.get("precision_vs_truth", {}).get("precision", float("nan"))
    stages.add("pseudo-labels", f"{pseudo['crops']} crops, precision {precision:.3f} vs test truth")

    # Self-training on the real domain: the same models label real scans that have no labels at all.
    real_pseudo_dir = records / "pseudo_real"
    stages.run(
        "pseudo-labels (real scans)",
        "pseudo_label",
        [
            "--detector",
            str(det),
            "--classifier",
            str(cls),
            "--records",
            str(records),
            "--images",
            str(REAL_SCANS),
            "--out",
            str(real_pseudo_dir),
            "--short-side",
            str(args.detector_input * 2),
            "--quiet",
        ],
    )
    real_pseudo = json.loads((real_pseudo_dir / "manifest.json").read_text())
    mean = real_pseudo["class_probability"]["mean"]
    stages.add(
        "pseudo-labels (real scans)",
        f"{real_pseudo['crops']} crops of {real_pseudo['classes']} classes from {real_pseudo['pages_labelled']} "
        f"real pages without labels" + (f", mean class probability {mean:.3f}" if mean is not None else ""),
    )

    # A set with no confident prediction has nothing to mix in (a smoke run's untrained models, or real pages
    # the synthetic-trained models are never sure of): fine-tune with the others, or alone.
    mixed = [
        folder
        for folder, manifest in ((records / "pseudo", pseudo), (real_pseudo_dir, real_pseudo))
        if manifest["crops"]
    ]
    pseudo_flags = ["--pseudo", *map(str, mixed)] if mixed else []
    stages.run(
        "fine-tune",
        "train",
        [
            "--task",
            "classifier",
            "--records",
            str(records),
            "--out",
            str(tuned),
            "--init",
            str(cls),
            *pseudo_flags,
            "--epochs",
            str(args.finetune_epochs),
            "--crops-per-epoch",
            str(args.classifier_crops),
            "--batch-size",
            str(args.classifier_batch),
            "--eval-every",
            str(args.finetune_epochs),
            "--log-every-steps",
            "50",
            "--seed",
            str(args.seed),
        ],
    )
    h = _history(tuned)
    stages.add(
        "fine-tune",
        f"val top-1 {h.get('val_top1', float('nan')):.3f} (pseudo-labels: "
        f"{pseudo['crops']} synthetic + {real_pseudo['crops']} real crops)",
    )

    # Reading in context: the classifier's temperature and the decoding's settings, chosen on the synthetic
    # test pages (held-out documents, books of their own), never on the real pages measured below.
    context = out / "context.json"
    stages.run(
        "context: tuned",
        "tune_context",
        ["--classifier", str(tuned), "--data-dir", str(synth), "--split", "test", "--out", str(context), "--quiet"],
    )
    tuned_context = json.loads(context.read_text())
    stages.add(
        "context: tuned",
        f"temperature {tuned_context['temperature']:.2f}, λ {tuned_context['context']['lm_weight']}: synthetic "
        f"test top-1 on true boxes {tuned_context['top1_alone']:.3f} alone, {tuned_context['top1_context']:.3f} "
        "in context",
    )

    stages.run(
        "export",
        "export",
        [
            "--detector",
            str(det),
            "--classifier",
            str(tuned),
            "--out",
            str(page_model),
            "--short-side",
            str(args.detector_input * 2),
            "--context",
            str(context),
        ],
    )
    stages.add("export", f"{page_model}")
    print(f"   the page recogniser is in {page_model}: the stages below pass it as --model")

    submission = out / "submission.csv"
    stages.run(
        "submission",
        "make_submission",
        ["--model", str(page_model), "--data-dir", str(synth), "--out", str(submission), "--quiet"],
    )
    seconds = stages.last_seconds
    log = stages.run(
        "score", "evaluate", ["--truth", str(synth / "test_truth.csv"), "--pred", str(submission), "--json"]
    )
    score = json.loads(log.strip().splitlines()[-1])
    stages.add(
        "submission",
        f"synthetic test F1 {score['labelled']['f1']:.3f} (detection-only {score['detection']['f1']:.3f})",
        seconds + stages.last_seconds,
    )

    # The real test set: measured only, never trained on (kuzushiji-measure-real, docs/evaluation.md).
    real_json = out / "real_pages.json"
    stages.run(
        "real pages: measured",
        "measure_real",
        [
            "--classifier",
            str(tuned),
            "--detector",
            str(det),
            "--recognizer",
            str(page_model),
            "--short-side",
            str(args.detector_input * 2),
            "--label",
            "make demo",
            "--json",
            str(real_json),
            "--quiet",
        ],
    )
    real = json.loads(real_json.read_text())
    stages.add("real pages: measured", _real_figure(real))

    real_page = SAMPLE_DIR / "train_images" / f"{REAL_PAGE}.jpg"
    picture = out / f"{REAL_PAGE}.png"
    stages.run("transcription", "transcribe", [str(real_page), "--model", str(page_model)])
    stages.add("transcription", f"{REAL_PAGE} in reading order (printed above)")
    stages.run(
        "visualisation",
        "visualize",
        [
            "--model",
            str(page_model),
            "--image",
            str(real_page),
            "--truth",
            str(SAMPLE_DIR / "train.csv"),
            "--out",
            str(picture),
        ],
    )
    stages.add("visualisation", str(picture))

    formats = out / "formats"
    stages.run(
        "formats (real page)",
        "recognize",
        [
            str(FORMATS_PAGE),
            "--out",
            str(formats),
            "--model",
            str(page_model),
            "--formats",
            "all",
            "--force",
            "--quiet",
        ],
    )
    stages.add("formats (real page)", _files_figure(formats))

    # The model shipped with kuzushiji_tf on the same real pages: what the demo's models are up against.
    shipped_json = out / "real_pages_shipped.json"
    if shipped_model_available():
        stages.run(
            "real pages: shipped model",
            "measure_real",
            [
                "--classifier",
                SHIPPED,
                "--detector",
                SHIPPED,
                "--recognizer",
                SHIPPED,
                "--label",
                "shipped model",
                "--json",
                str(shipped_json),
                "--quiet",
            ],
        )
        stages.add("real pages: shipped model", _real_figure(json.loads(shipped_json.read_text())))
    else:
        stages.add(
            "real pages: shipped model",
            f"skipped: no model is shipped in {shipped_model_dir()} (docs/pretrained.md)",
            0.0,
        )

    print("\n" + stages.table())
    print(
        f"\noutputs: {out}\n  data {synth}\n  records {records}, {sample_records}\n  models {models}\n"
        f"  page recogniser {page_model}\n  submission {submission}\n  picture {picture}\n  formats {formats}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
