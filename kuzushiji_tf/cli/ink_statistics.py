"""Compare the ink of characters on real scans (no labels needed) with synthetic pages: ink fraction, stroke
width / box height, contrast and the ink around the box in the classifier's crop, medians over a
detector's confident boxes found the same way on both.

    kuzushiji-ink-statistics --detector saved_models/det \\
        --real scans/unlabelled --synthetic data/synth [--pages 36]

A realism check for the generator's stroke, pressure and ink ranges (`synthetic/style.py`,
`synthetic/handwriting.py`); docs/data.md, "Synthetic pages", gives the figures. Exit status 2 for a usage error
(a missing folder, no images), 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kuzushiji_tf.cli.args import prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "ink_statistics"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    p.add_argument(
        "--detector", required=True, metavar="DIR", help="detector training folder (model.keras), or `shipped`"
    )
    p.add_argument(
        "--real",
        nargs="+",
        default=[],
        metavar="PATH",
        help="real scans: one folder (searched for JPEG/PNG/TIFF) or image files",
    )
    p.add_argument(
        "--synthetic",
        nargs="*",
        default=[],
        metavar="DIR",
        help="Kaggle-layout folders (kuzushiji-make-synthetic output); their train_images are read",
    )
    p.add_argument("--pages", type=int, default=36, metavar="N", help="at most N pages of each set (default 36)")
    p.add_argument("--short-side", type=int, default=512, metavar="N", help="detection short side (default 512)")
    p.add_argument(
        "--score-threshold",
        type=float,
        default=0.5,
        help="boxes at least this confident (default 0.5: the pseudo-labels' threshold)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return p.parse_args(argv)


def _image_files(paths: list[str], what: str) -> list[Path]:
    from kuzushiji_tf.scans.files import folder_files

    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += folder_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such {what} file or folder")
    if paths and not files:
        raise FileNotFoundError(f"{', '.join(paths)}: no JPEG, PNG or TIFF images")
    return files


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.pretrained import training_folder

    args.detector = training_folder(args.detector, "detector")
    try:
        sets = {}
        if args.real:
            sets["real: " + " ".join(args.real)] = _image_files(args.real, "real")
        for folder in args.synthetic:
            images = Path(folder) / "train_images"
            if not images.is_dir():
                raise FileNotFoundError(f"{images}: missing (a kuzushiji-make-synthetic folder is needed)")
            sets[f"synthetic: {folder}"] = _image_files([str(images)], "synthetic")
        if not sets:
            raise FileNotFoundError("give --real and/or --synthetic")
        from kuzushiji_tf.measure.real_pages import model_file
        from kuzushiji_tf.models.saved_models import load_model

        detector = load_model(model_file(args.detector, "detector"))
    except (FileNotFoundError, ValueError) as error:  # MeasureError is a ValueError
        return fail(PROG, error)

    from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
    from kuzushiji_tf.detection.detect import detect_page
    from kuzushiji_tf.scans.images import load_image
    from kuzushiji_tf.synthetic.ink_statistics import ink_statistics

    def pages(files):
        for path in files[: args.pages]:
            image = load_image(path, formats=None)
            found = detect_page(detector, image, short_side=args.short_side, score_threshold=args.score_threshold)
            yield image, found.boxes

    figures = {name: ink_statistics(pages(files), INFERENCE_CROP_FACTOR).as_dict() for name, files in sets.items()}
    width = max(len(name) for name in figures)
    print(
        f"{'set':<{width}}  {'boxes':>6}  {'ink fraction':>12}  {'stroke/height':>13}  {'contrast':>8}  "
        f"{'surround ink':>12}"
    )
    for name, f in figures.items():
        print(
            f"{name:<{width}}  {f['boxes']:>6}  {f['ink_fraction']:>12.3f}  {f['stroke_to_height']:>13.3f}  "
            f"{f['contrast']:>8.1f}  {f['surround_ink']:>12.3f}"
        )
    if args.json:
        from kuzushiji_tf.measure.real_pages import write_json

        write_json(
            args.json,
            {
                "detector": args.detector,
                "short_side": args.short_side,
                "score_threshold": args.score_threshold,
                "sets": figures,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
