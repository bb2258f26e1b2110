"""Package a trained detector and classifier as a model package: float16 weights, configs, vocabulary, export
options and a manifest of sha256s, the form the release model ships in (docs/pretrained.md).

    kuzushiji-package-model --detector runs/det --classifier runs/cls --context runs/context.json \
        --short-side 832 --out kuzushiji_tf/pretrained/kuzushiji-reader-1

The detector and classifier are training folders (model.keras; the classifier's vocabulary.csv beside it) or
.keras files; the export options are kuzushiji-export's, and --context the settings file kuzushiji-tune-context
wrote. The language model is not copied: the manifest names the package's own by its sha256. The folder is
written whole or not at all; an existing one is replaced only with --overwrite. Every reading command takes
the result as --model, and --detector/--classifier/--init take it as a training folder; in
kuzushiji_tf/pretrained/<name>-<version> (kuzushiji_tf/config.py) it is the shipped model.
"""

from __future__ import annotations

import argparse
import os
import sys

from kuzushiji_tf.cli.args import add_export_options, add_trained_models, export_options, positive, prog
from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.config import SHIPPED_MODEL_MAX_BYTES, SHIPPED_MODEL_NAME, SHIPPED_MODEL_VERSION

PROG = "package_model"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog(PROG),
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    add_trained_models(p)
    p.add_argument("--out", required=True, help="the package folder to write, e.g. packages/kuzushiji-reader-1")
    p.add_argument("--name", default=SHIPPED_MODEL_NAME, help="the package's name (default %(default)s)")
    p.add_argument(
        "--version",
        type=positive(int),
        default=SHIPPED_MODEL_VERSION,
        help="the package's version (default %(default)s)",
    )
    p.add_argument(
        "--float32",
        action="store_true",
        help="keep the weights in float32 (default: kernels in float16, half the size; docs/pretrained.md)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a package already in --out")
    add_export_options(p)
    return p.parse_args(argv)


def _size(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.pretrained import training_folder
    from kuzushiji_tf.pretrained.packaging import write_package

    try:
        manifest = write_package(
            args.out,
            detector=training_folder(args.detector, "detector"),
            classifier=training_folder(args.classifier, "classifier"),
            options=export_options(args, "package_model"),
            vocabulary=args.vocabulary,
            context=args.context,
            name=args.name,
            version=args.version,
            float16=not args.float32,
            overwrite=args.overwrite,
        )
    except (FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    total = sum(entry["size"] for entry in manifest.files.values())
    for name, entry in manifest.files.items():
        print(f"{PROG}: {name:<28} {_size(entry['size']):>10}  sha256 {entry['sha256'][:16]}")
    print(
        f"{PROG}: wrote {manifest.label} ({manifest.values['weights']} weights, {_size(total)} in "
        f"{len(manifest.files) + 1} files; the language model is referenced, not copied) -> {args.out}"
    )
    if total > SHIPPED_MODEL_MAX_BYTES:
        print(
            f"{PROG}: note: {_size(total)} is over the {_size(SHIPPED_MODEL_MAX_BYTES)} a shipped model may take "
            "in the repository" + ("; leave out --float32" if args.float32 else ""),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
