"""Pseudo-label unlabelled pages (a records folder's test pages, or real scans with --images) into crop records.

Confident detector + classifier predictions become crop records for fine-tuning the classifier. The pages
are the test pages of a records folder (the recipe's), or, with --images, real scans that have no labels
and no records (self-training on the real domain).

    kuzushiji-pseudo-label --detector saved_models/det --classifier saved_models/cls \
        --records records/synth --out records/synth/pseudo --det-threshold 0.5 --cls-threshold 0.9
    kuzushiji-pseudo-label --detector saved_models/det --classifier saved_models/cls \
        --records records/synth --images kuzushiji_tf/sample_data/unlabelled_real/images --out records/real-pseudo
    kuzushiji-train --task classifier --init saved_models/cls \
        --pseudo records/synth/pseudo records/real-pseudo ...

A stronger teacher for the detector's own self-training: several detectors and the mirrored page, and
unsure detections marked as such rather than left to be background:

    kuzushiji-pseudo-label --detector saved_models/det-a saved_models/det-b --mirror --det-unsure 0.2 \
        --classifier saved_models/cls --records records/synth --images scans/ --out records/real-pseudo
    kuzushiji-train --task detector --records records/synth --pseudo records/real-pseudo ...

The records folder always gives the vocabulary, the crop size and (for --images) the stored page short side.
The 5 labelled real pages of the bundled sample are the project's test set: --images refuses them (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

from kuzushiji_tf.cli.args import add_short_side
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "pseudo_label"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--detector",
        required=True,
        nargs="+",
        metavar="DETECTOR",
        help="detector training folder (model.keras) or .keras file, or `shipped`; several are read as one "
        "ensemble (their heatmaps averaged), a stronger teacher",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="also read each page mirrored and average the heatmaps (CenterNet's flip test; 2 x the time)",
    )
    p.add_argument(
        "--classifier", required=True, help="classifier training folder (model.keras) or .keras file, or `shipped`"
    )
    p.add_argument(
        "--records",
        required=True,
        help="records folder: its test pages are labelled, or with --images it gives the vocabulary, "
        "crop size and stored page short side",
    )
    p.add_argument(
        "--images",
        nargs="+",
        metavar="DIR_OR_GLOB",
        help="label these real scans (folders of .jpg/.jpeg/.png/.tif/.tiff, glob patterns or files) "
        "instead of the records' test pages",
    )
    p.add_argument("--out", required=True, help="folder for the pseudo-labelled crop records")
    p.add_argument("--det-threshold", type=float, default=0.5, help="detector score, default %(default)s")
    p.add_argument("--cls-threshold", type=float, default=0.9, help="class probability, default %(default)s")
    p.add_argument(
        "--det-unsure",
        type=float,
        metavar="SCORE",
        help="--images: the scans' page records also mark detections scoring from SCORE up to "
        "--det-threshold as uncertain, so the detector trained on them (train --task detector "
        "--pseudo) learns them as neither character nor background; without it they are left "
        "out, i.e. background",
    )
    add_short_side(p, "detector short side")
    p.add_argument(
        "--max-per-class",
        type=int,
        metavar="N",
        help="keep at most N crops of each class, the most probable first; 0: no cap. Default 200 "
        "with --images, no cap for the records' test pages (the recipe)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        help="--images: larger images are refused as decompression bombs (default: the records' --max-pixels)",
    )
    p.add_argument("--shards", type=int, default=4)
    p.add_argument(
        "--truth",
        help="optional train.csv-style truth of the test pages (a synthetic set's "
        "test_truth.csv): the pseudo-labels' precision goes into the manifest",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.images is not None and args.truth is not None:
        p.error("--truth scores the records' test pages; received it with --images (real scans have no truth)")
    if args.images is None and args.max_pixels is not None:
        p.error("--max-pixels applies to --images; the records' test pages were checked when they were built")
    if args.det_unsure is not None and args.images is None:
        p.error("--det-unsure marks boxes in the scans' page records; received it without --images")
    if args.max_per_class is not None and args.max_per_class < 0:
        p.error(f"--max-per-class must be >= 0 (0: no cap); received {args.max_per_class}")
    return args


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.data.records import VOCABULARY, read_vocabulary
    from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError, read_truth_csv
    from kuzushiji_tf.evaluation.test_set import assert_not_test_page
    from kuzushiji_tf.models.centernet.detector_ensemble import DetectorEnsemble
    from kuzushiji_tf.models.saved_models import load_model, resolve_keras_file
    from kuzushiji_tf.pretrained import training_folder
    from kuzushiji_tf.self_training.pseudo_labels import (
        DEFAULT_MAX_PER_CLASS,
        PseudoLabelOptions,
        list_images,
        write_image_pseudo_labels,
        write_pseudo_labels,
    )

    cap = args.max_per_class
    if cap is None:
        cap = DEFAULT_MAX_PER_CLASS if args.images is not None else 0
    try:
        options = PseudoLabelOptions(
            det_threshold=args.det_threshold,
            cls_threshold=args.cls_threshold,
            det_unsure=args.det_unsure,
            short_side=args.short_side,
            shards=args.shards,
            max_per_class=cap or None,
        )
        if args.images is not None:
            for path in list_images(args.images):  # refuse a real test page before the models load
                assert_not_test_page(path)
        args.detector = [training_folder(path, "detector") for path in args.detector]
        args.classifier = training_folder(args.classifier, "classifier")
        # The vocabulary.csv beside the classifier's model file (as kuzushiji-export finds it) names its
        # classes; a model file without one is taken to have the records'.
        model_dir = resolve_keras_file(args.classifier).parent
        detectors = [load_model(path) for path in args.detector]
        detector = (
            detectors[0] if len(detectors) == 1 and not args.mirror else DetectorEnsemble(detectors, mirror=args.mirror)
        )
        vocabulary = read_vocabulary(model_dir) if (model_dir / VOCABULARY).is_file() else None
        if args.images is not None:
            manifest = write_image_pseudo_labels(
                detector,
                load_model(args.classifier),
                args.images,
                args.records,
                args.out,
                options,
                max_pixels=args.max_pixels,
                vocabulary=vocabulary,
                progress=not args.quiet,
            )
        else:
            truth = read_truth_csv(args.truth) if args.truth else None
            manifest = write_pseudo_labels(
                detector,
                load_model(args.classifier),
                args.records,
                args.out,
                options,
                truth=truth,
                vocabulary=vocabulary,
                progress=not args.quiet,
            )
    except (FileNotFoundError, ValueError, LabelsFileError) as error:
        return fail(PROG, error)
    capped = f"; {manifest['capped']['dropped']} over --max-per-class {cap} left out" if cap else ""
    if args.images is not None:
        for entry in manifest["skipped"]:
            print(f"pseudo_label: skipped {entry['problem']}", file=sys.stderr)
        pages = f"{manifest['pages_labelled']} of {manifest['pages']} images" + (
            f" ({len(manifest['skipped'])} unreadable, skipped)" if manifest["skipped"] else ""
        )
    else:
        pages = f"{manifest['pages']} test pages"
    line = (
        f"pseudo_label: {pages} -> {manifest['crops']} crops of {manifest['classes']} classes "
        f"(det >= {args.det_threshold}, class >= {args.cls_threshold}{capped}) in {manifest['seconds']}s -> {args.out}"
    )
    if "precision_vs_truth" in manifest:
        line += f"; precision vs truth {manifest['precision_vs_truth']['precision']:.4f}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
