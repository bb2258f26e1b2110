"""Fit the classifier's temperature and choose the context decoding's settings on labelled synthetic pages.

    kuzushiji-tune-context --classifier DIR --data-dir SYNTH [--split test] [--lm FILE] --out context.json
    kuzushiji-tune-context --classifier DIR --settings context.json [--data-dir DIR] [--codh CSV] --out F.json

Reads the classifier's top-5 candidates on every true box of the labelled pages (cut as the exported
recogniser cuts them), in reading order (the labels' order: synthetic pages write them in reading order; or a
CODH CSV's Char ID order with --codh), fits a temperature on them, and tries λ, keep_above, the beam and the
model order; --out gets the best settings (for `kuzushiji-export --context`) and the whole grid. Tune on
synthetic pages of held-out documents and hands (a synthetic set's test split); never on the real labelled
pages. With --settings it only measures those settings (e.g. on the real pages): top-1 alone and in context.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from kuzushiji_tf.cli.args import prog
from kuzushiji_tf.cli.errors import user_errors

PROG = "tune_context"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    p.add_argument(
        "--classifier", metavar="DIR", help="classifier training folder (model.keras, vocabulary.csv), or `shipped`"
    )
    p.add_argument("--candidates", metavar="FILE", help="reuse (or, with --classifier, write) the boxes' candidates")
    p.add_argument("--data-dir", metavar="DIR", help="labelled Kaggle-layout folder; default: the bundled real sample")
    p.add_argument(
        "--split", choices=("train", "test"), default="train", help="train.csv or a synthetic set's test_truth.csv"
    )
    p.add_argument("--codh", metavar="CSV", help="read the boxes in this CODH coordinate CSV's order")
    p.add_argument("--lm", metavar="FILE", help="language model (kuzushiji-build-lm); default: the shipped one")
    p.add_argument(
        "--top-k", type=int, default=5, help="candidates per box (the export's --top-k; default %(default)s)"
    )
    p.add_argument("--settings", metavar="JSON", help="measure these settings instead of tuning")
    p.add_argument("--out", metavar="JSON", required=True, help="where the settings and figures go")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if not (args.classifier or args.candidates):
        p.error("give --classifier, or --candidates from an earlier run")
    return args


def _say(text: str) -> None:
    print(f"{PROG}: {text}", flush=True)


def _pages(args):
    from kuzushiji_tf.measure import context_tuning, real_pages

    data_dir = Path(args.data_dir) if args.data_dir else real_pages.DEFAULT_DATA_DIR
    pages = [page for page in real_pages.labelled_pages(data_dir, args.split) if page.chars]
    runs = context_tuning.codh_runs(pages, args.codh) if args.codh else context_tuning.label_runs(pages)
    return pages, runs


def _language_model(path):
    from kuzushiji_tf.language_model import NgramModel, shipped_model

    return NgramModel.load(path) if path else shipped_model()


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.pretrained import training_folder

    if args.classifier:
        args.classifier = training_folder(args.classifier, "classifier")
    from kuzushiji_tf.measure import context_tuning as tuning
    from kuzushiji_tf.recognition.context import ContextOptions

    lm = _language_model(args.lm)
    if args.classifier:
        from kuzushiji_tf.measure.real_pages import load_classifier

        pages, runs = _pages(args)
        classifier, vocabulary = load_classifier(args.classifier)
        _say(f"{sum(len(p.chars) for p in pages)} true boxes on {len(pages)} pages ...")
        candidates = tuning.true_box_candidates(
            classifier, vocabulary, pages, runs, progress=not args.quiet, top_k=args.top_k
        )
        if args.candidates:
            candidates.save(args.candidates)
    else:
        candidates = tuning.Candidates.load(args.candidates)

    if args.settings:
        figures = tuning.summary(lm, candidates, tuning.settings_options(args.settings))
        figures["temperature"] = tuning.read_settings(args.settings)["temperature"]
    else:
        start = time.perf_counter()
        try:
            temperature, nll = tuning.fit_temperature(candidates)
        except tuning.TuningError as error:  # e.g. an untrained classifier: nothing to calibrate on
            temperature, nll = 1.0, float("nan")
            _say(f"warning: {error}; keeping temperature 1")
        _say(f"temperature {temperature} (candidates' NLL {nll:.4f}); trying the grid ...")
        trials = tuning.grid_search(lm, candidates, temperature)
        best = trials[0].options
        context = {k: v for k, v in best.items() if k != "temperature"}
        figures = tuning.summary(lm, candidates, ContextOptions.for_temperature(temperature, **context))
        figures.update(
            temperature=temperature,
            nll=None if nll != nll else round(nll, 4),
            context=context,
            grid=[{**t.options, "top1": round(t.top1, 4)} for t in trials],
            tuning_seconds=round(time.perf_counter() - start, 1),
        )
    tuning.write_json(args.out, figures)
    _say(
        f"{figures['boxes']} boxes: top-1 alone {figures['top1_alone']:.4f}, in context {figures['top1_context']:.4f} "
        f"(top-5 ceiling {figures['topk_ceiling']:.4f}); decoding {figures['decode_seconds']}s; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
