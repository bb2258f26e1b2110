"""Measure trained models on labelled REAL pages only (default: the bundled 5 real pages); never trains.

    kuzushiji-measure-real [--classifier DIR] [--detector DIR] [--recognizer DIR] [--label NAME]
        [--data-dir DIR] [--short-side N] [--json FILE] [--append-table FILE] [--quiet]

--classifier, --detector and --recognizer also take a model package (kuzushiji-package-model) or the word
`shipped` for the model shipped with kuzushiji_tf (docs/pretrained.md).
--classifier: top-1 / top-5 on crops of the true boxes (cut as the exported recogniser cuts them), overall,
kana and kanji, and the share of characters in its vocabulary. --detector: detection-only F1 as
kuzushiji-detect. --recognizer (an exported page recogniser, kuzushiji-export): Kaggle F1 and detection-only
F1 as kuzushiji-make-submission + kuzushiji-evaluate, and the detection-only F1 of the research output (every
character above the detection threshold, as kuzushiji-recognize's JSON keeps it). Prints a table; --json writes the figures,
--append-table adds one markdown row to an ablation table. A missing folder: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from kuzushiji_tf.cli.args import DETECTOR, add_no_context, prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "measure_real"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    p.add_argument(
        "--classifier", metavar="DIR", help="classifier training folder (model.keras, vocabulary.csv), or `shipped`"
    )
    p.add_argument("--detector", metavar="DIR", help="detector training folder (model.keras), or `shipped`")
    p.add_argument(
        "--recognizer",
        metavar="DIR",
        help="exported page recogniser (e.g. saved_models/kuzushiji_page/1), a model package, or `shipped`",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="labelled Kaggle-layout folder (train.csv, train_images/); default: the bundled real sample",
    )
    p.add_argument(
        "--short-side",
        type=int,
        metavar="N",
        help=f"--detector's inference short side; default: the detector's config.json eval_short_side, "
        f"else {DETECTOR.eval_short_side} (a recogniser keeps the short side it was exported with)",
    )
    p.add_argument(
        "--label", metavar="NAME", help="name of this row, e.g. 'synthetic only' (default: the model folders' names)"
    )
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON (atomically)")
    p.add_argument("--append-table", metavar="FILE", help="append one markdown row to this ablation table")
    p.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="crops per classifier call, default %(default)s"
    )
    p.add_argument(
        "--split",
        choices=("train", "test"),  # measure.real_pages.LABELLED_SPLITS
        default="train",
        help="train.csv, or a synthetic set's test_truth.csv (test pages: books and text held out)",
    )
    add_no_context(p)
    p.add_argument(
        "--context",
        metavar="JSON",
        help="the settings the classifier's true boxes are read in context with (kuzushiji-tune-context --out); "
        "default: --recognizer's export settings, else kuzushiji_tf/config.py's",
    )
    p.add_argument(
        "--codh",
        metavar="CSV",
        help="CODH coordinate CSV giving the true boxes' reading order; default: the bundled sample's own CSV "
        "for the bundled sample, else the order the recogniser reads detections in",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if not (args.classifier or args.detector or args.recognizer):
        p.error("give at least one of --classifier, --detector, --recognizer")
    return args


def _name(path: str) -> str:
    """A model's short name: its folder, with the parent for a numbered version (kuzushiji_page/1)."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.name.isdigit() else path.name


def _say(text: str) -> None:
    print(f"{PROG}: {text}", flush=True)


def _columns_in_context(args, classifier, vocabulary, pages, data_dir: Path, progress: bool) -> dict:
    """Top-1 on the true boxes read alone and in context (`measure.context_tuning.summary`)."""
    from kuzushiji_tf.measure import context_tuning as tuning
    from kuzushiji_tf.measure import real_pages as real
    from kuzushiji_tf.recognition.context import ContextOptions, shipped_language_model
    from kuzushiji_tf.recognition.contract import RecognizerOptions, read_options_asset

    if args.context:
        options = tuning.settings_options(args.context)
    elif args.recognizer:
        options = ContextOptions.of_recognizer(read_options_asset(real.recognizer_folder(args.recognizer)))
    else:
        options = ContextOptions.of_recognizer(RecognizerOptions())
    codh = args.codh or (real.DEFAULT_CODH_CSV if data_dir == real.DEFAULT_DATA_DIR else None)
    if codh:
        runs, order = tuning.codh_runs(pages, codh), str(codh)
    elif args.split == "test":  # synthetic test pages: their labels come in reading order
        runs, order = tuning.label_runs(pages), "labels"
    else:
        runs, order = tuning.layout_runs(pages), "layout"
    candidates = tuning.true_box_candidates(classifier, vocabulary, pages, runs, progress=progress)
    return {"order": order, **tuning.summary(shipped_language_model(), candidates, options)}


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError
    from kuzushiji_tf.measure import real_pages as real
    from kuzushiji_tf.scans.images import ImageError

    data_dir = Path(args.data_dir) if args.data_dir else real.DEFAULT_DATA_DIR
    models = [m for m in (args.classifier, args.detector, args.recognizer) if m]
    figures = {
        "label": args.label if args.label is not None else " + ".join(_name(m) for m in models),
        "data_dir": str(data_dir),
    }
    progress = not args.quiet
    try:
        from kuzushiji_tf.pretrained import choose_page_model, training_folder

        if args.classifier:
            args.classifier = training_folder(args.classifier, "classifier")
        if args.detector:
            args.detector = training_folder(args.detector, "detector")
        if args.recognizer:
            choice = choose_page_model(args.recognizer, check=False, flag="--recognizer")
            _say(choice.line)
            args.recognizer = str(choice.path)
        # Every path is checked before the first stage runs: a typo must not cost a long stage first.
        if args.classifier:
            real.classifier_vocabulary_file(args.classifier)
        if args.detector:
            real.model_file(args.detector, "detector")
        if args.recognizer:
            real.recognizer_folder(args.recognizer)
        start = time.perf_counter()
        pages = real.labelled_pages(data_dir, args.split)
        figures.update(pages=len(pages), characters=sum(len(p.chars) for p in pages))
        _say(
            f"{figures['pages']} labelled pages, {figures['characters']} characters from {data_dir} "
            f"({time.perf_counter() - start:.1f}s)"
        )

        if args.classifier:
            start = time.perf_counter()
            classifier, vocabulary = real.load_classifier(args.classifier)
            _say(f"classifier: {figures['characters']} true-box crops at {classifier.input_shape[1]} px ...")
            scores = real.measure_classifier(
                classifier, vocabulary, pages, batch_size=args.batch_size, progress=progress
            )
            seconds = time.perf_counter() - start
            figures["classifier"] = {"model": str(args.classifier), **scores.as_dict(), "seconds": round(seconds, 2)}
            _say(
                f"classifier: top-1 {scores.overall.top1:.4f} (kana {scores.kana.top1:.4f}, kanji "
                f"{scores.kanji.top1:.4f}) in {seconds:.1f}s"
            )
            if not args.no_context:
                read = _columns_in_context(args, classifier, vocabulary, pages, data_dir, progress)
                figures["classifier"]["context"] = read
                _say(
                    f"classifier, true boxes read as columns: top-1 {read['top1_alone']:.4f} alone, "
                    f"{read['top1_context']:.4f} in context (top-5 holds the truth for {read['topk_ceiling']:.4f}; "
                    f"decoding {read['decode_seconds']}s)"
                )

        if args.detector:
            from kuzushiji_tf.models.saved_models import load_model

            start = time.perf_counter()
            short_side = args.short_side or real.detector_short_side(args.detector)
            detector = load_model(real.model_file(args.detector, "detector"))
            _say(f"detector: {len(pages)} pages at short side {short_side} ...")
            score = real.measure_detector(detector, pages, short_side=short_side, progress=progress)
            seconds = time.perf_counter() - start
            figures["detector"] = {
                "model": str(args.detector),
                "short_side": short_side,
                "score_threshold": real.DEFAULT_SCORE_THRESHOLD,
                "nms_iou": real.DEFAULT_NMS_IOU,
                "contained_share": real.DEFAULT_CONTAINED_SHARE,
                "detection": score.as_dict(),
                "seconds": round(seconds, 2),
            }
            _say(f"detector: detection-only F1 {score.f1:.4f} in {seconds:.1f}s")

        if args.recognizer:
            from kuzushiji_tf.backends.loading import load_page_model

            start = time.perf_counter()
            model = load_page_model(real.recognizer_folder(args.recognizer))
            _say(f"recogniser ({model.backend}): {len(pages)} pages ...")
            result = real.measure_recognizer(model, pages, progress=progress, context=not args.no_context)
            seconds = time.perf_counter() - start
            figures["recognizer"] = {
                "model": str(args.recognizer),
                "options": dataclasses.asdict(model.options),
                "labelled": result.labelled.as_dict(),
                "detection": result.detection.as_dict(),  # of the Kaggle submission: after the class threshold
                "research_detection": result.research_detection.as_dict(),  # every character, as the JSON has it
                "context": not args.no_context,
                **({"labelled_alone": result.alone.as_dict()} if result.alone else {}),
                "context_seconds": round(result.context_seconds, 3),
                "seconds": round(seconds, 2),
            }
            if result.alone:
                _say(
                    f"recogniser: Kaggle F1 {result.alone.f1:.4f} reading each character alone, "
                    f"{result.labelled.f1:.4f} in context ({result.context_seconds:.2f}s for {len(pages)} pages)"
                )
            _say(
                f"recogniser: Kaggle F1 {result.labelled.f1:.4f}, detection-only F1 {result.detection.f1:.4f} "
                f"(Kaggle submission), {result.research_detection.f1:.4f} (research output, every character) "
                f"in {seconds:.1f}s"
            )
    except (FileNotFoundError, ValueError, ImageError, LabelsFileError) as error:
        return fail(PROG, error)

    print(real.format_table(figures), flush=True)
    if args.json:
        _say(f"figures -> {real.write_json(args.json, figures)}")
    if args.append_table:
        _say(f"row -> {real.append_markdown_row(args.append_table, figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
