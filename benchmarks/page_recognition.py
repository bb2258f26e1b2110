"""Serving throughput of the exported page recogniser (`export_page_recognizer`: one SavedModel from JPEG
bytes to characters) at short side 832 on synthetic full-size pages, and the share of its time spent in
the two models' forward passes (goal >= 0.8): the detector on the same resized page and the classifier
on as many crops as the recogniser classified, each timed alone as a tf.function, divided by the
recogniser's time for that page. Also the time reading in context adds after the graph (`read_in_context`
with the shipped language model and the default settings), in ms per page and as a share of the graph's.

Real-size models: ResNet18 CenterNet and MobileNetV3Small over 4,212 classes at 112 px, untrained unless
--detector / --classifier name trained `model.keras` files. An untrained detector's heatmap bias is set so
that ~--chars peaks pass the threshold and its size head so every box is the pages' median character,
so the recogniser crops and classifies a realistic number of characters.

    python benchmarks/page_recognition.py --quick            # < 2 minutes on 2 cores
    python benchmarks/page_recognition.py --pages 6 --detector saved_models/det --classifier saved_models/cls

With --model, it times page recognisers end to end instead (the graph, then reading in context,
as kuzushiji-recognize runs them, one page at a time) on real pages: the 5 labelled pages and the 6
unlabelled scans of the bundled sample, in seconds per page, beside NDL Kotenseki OCR-Lite's published
figure. Each may be a SavedModel or an ONNX export, or a model package (`shipped`: the shipped model), which
is timed as its SavedModel and its ONNX export:

    python benchmarks/page_recognition.py --model shipped [--rounds 3]
    python benchmarks/page_recognition.py --model EXPORT_TF EXPORT_ONNX
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import common
from kuzushiji_tf.config import INFERENCE_SHORT_SIDE

NUM_CLASSES = common.REAL_CLASSES  # docs/recipe.md: distinct labels in train.csv
SHORT_SIDE = INFERENCE_SHORT_SIDE  # docs/recipe.md: inference short side
CHAR_SIZE_PX = common.CHAR_SIZE_PX  # docs/recipe.md: the median character is ~35 px at short side 832 (real pages)


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="synthetic pages (default 2 quick, 6 full)")
    parser.add_argument("--rounds", type=int, default=None, help="timed passes over the pages (1 quick, 3 full)")
    parser.add_argument("--chars", type=int, default=128, help="peaks an untrained detector is tuned to give")
    parser.add_argument("--detector", default=None, help="trained detector model.keras (or its folder)")
    parser.add_argument("--classifier", default=None, help="trained classifier model.keras (or its folder)")
    parser.add_argument("--det-threshold", type=float, default=0.3, help="detector score threshold (0.3)")
    parser.add_argument(
        "--model",
        nargs="+",
        default=None,
        help="recognisers to time end to end on the bundled real pages: export folders, model packages or "
        "`shipped` (a package is timed once per --backends)",
    )
    parser.add_argument(
        "--backends", nargs="+", default=["tf", "onnx"], choices=["tf", "onnx"], help="for packages (tf onnx)"
    )
    args = parser.parse_args(argv)
    args.pages = args.pages or (2 if args.quick else 6)
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def crop_characters_pad_if_needed(image, boxes, size: int):
    """Prototype of a change to `page_recognizer.crop_characters`: mirror-pad the page only when a crop
    square leaves it, and only by the overshoot. Typical pages (characters inside the margins) then skip
    the copy of the whole full-resolution scan that the SYMMETRIC pad makes for every page."""
    import tensorflow as tf

    from kuzushiji_tf.backends.tf.page_recognizer import square_crop_boxes
    from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
    from kuzushiji_tf.recognition.contract import CROP_OVERSAMPLE

    squares = square_crop_boxes(tf.cast(boxes, tf.float32), INFERENCE_CROP_FACTOR)
    hw = tf.shape(image)[:2]
    size_xy = tf.cast(tf.stack([hw[1], hw[0], hw[1], hw[0]]), tf.float32)
    overshoot = tf.reduce_max(
        tf.concat([[0.0], tf.reshape(-squares[:, :2], [-1]), tf.reshape(squares[:, 2:] - size_xy[None, 2:], [-1])], 0)
    )
    margin = tf.minimum(tf.cast(tf.math.ceil(overshoot), tf.int32), tf.reduce_min(hw) - 1)

    def crops(page, m):
        m = tf.cast(m, tf.float32)
        extent = tf.cast(tf.shape(page)[:2] - 1, tf.float32)
        normalised = tf.stack(
            [
                (squares[:, 1] + m - 0.5) / extent[0],
                (squares[:, 0] + m - 0.5) / extent[1],
                (squares[:, 3] + m - 0.5) / extent[0],
                (squares[:, 2] + m - 0.5) / extent[1],
            ],
            1,
        )
        out = tf.image.crop_and_resize(
            page[None],
            normalised,
            tf.zeros(tf.shape(boxes)[:1], tf.int32),
            [size * CROP_OVERSAMPLE, size * CROP_OVERSAMPLE],
        )
        return tf.nn.avg_pool2d(out, CROP_OVERSAMPLE, CROP_OVERSAMPLE, "VALID")

    return tf.cond(
        margin > 0,
        lambda: crops(tf.pad(image, [[margin, margin], [margin, margin], [0, 0]], mode="SYMMETRIC"), margin),
        lambda: crops(image, 0),
    )


def build_models(args, images):
    import keras

    from kuzushiji_tf.models.centernet import build_centernet
    from kuzushiji_tf.models.classifier import build_classifier
    from kuzushiji_tf.models.saved_models import load_model

    notes = []
    if args.detector:
        detector = load_model(args.detector)
        notes.append(f"detector {args.detector}")
    else:
        keras.utils.set_random_seed(args.seed)
        detector = build_centernet("resnet18")
        peaks = common.tune_untrained_detector(
            detector, images, args.det_threshold, args.chars, short_side=SHORT_SIDE, char_size_px=CHAR_SIZE_PX
        )
        notes.append(
            f"untrained resnet18 CenterNet, heatmap bias tuned to {peaks} peaks per page, {CHAR_SIZE_PX:.0f} px boxes"
        )
    if args.classifier:
        classifier = load_model(args.classifier)
        notes.append(f"classifier {args.classifier}")
    else:
        classifier = build_classifier(NUM_CLASSES, input_size=112)
        notes.append(f"untrained MobileNetV3Small, {NUM_CLASSES} classes, 112 px")
    return detector, classifier, notes


# NDL Kotenseki OCR-Lite (the tool researchers use today): its README's figure, on its authors' office PC,
# not measured here.
NDL_LITE_SECONDS_PER_PAGE = 2.9


def real_pages_speed(args) -> int:
    """Seconds per page of each exported recogniser, end to end (graph + context), on the bundled real pages."""
    from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR, SAMPLE_UNLABELLED_DIR
    from kuzushiji_tf.recognition.batch_recognition import run_batch
    from kuzushiji_tf.recognition.contract import CODES

    started = time.perf_counter()
    common.banner("page_recognition: exported recognisers end to end on real pages", args)
    sets = {
        "5 labelled pages": sorted((SAMPLE_KAGGLE_DIR / "train_images").glob("*.jpg")),
        "6 unlabelled scans": sorted(SAMPLE_UNLABELLED_DIR.glob("*.jpg")),
    }
    encoded = {name: [p.read_bytes() for p in paths] for name, paths in sets.items()}
    from kuzushiji_tf.pretrained import SHIPPED, choose_page_model, is_package

    folders = []
    for given in args.model:  # a package (or `shipped`): its export for each backend, rebuilt on first use
        packaged = given == SHIPPED or is_package(given)
        folders += [choose_page_model(given, backend=b).path for b in args.backends] if packaged else [given]
    rows = []
    for folder in folders:
        load_started = time.perf_counter()
        model = common.load_page_model(folder)
        run_batch(model, [encoded["5 labelled pages"][0]])  # warm-up: tracing, first allocations
        load_s = time.perf_counter() - load_started
        for name, pages in encoded.items():
            best = [float("inf")] * len(pages)
            chars = [0] * len(pages)
            for _ in range(args.rounds):
                for i, page in enumerate(pages):
                    begin = time.perf_counter()
                    ((result, _reason),) = run_batch(model, [page])
                    best[i] = min(best[i], time.perf_counter() - begin)
                    chars[i] = len(result[CODES]) if result else 0
            rows.append(
                [
                    str(folder),
                    model.backend,
                    name,
                    len(pages),
                    sum(best) / len(best),
                    float(np.median(best)),
                    max(best),
                    sum(chars) / len(chars),
                    load_s,
                ]
            )
    common.print_table(
        ["model", "backend", "pages", "n", "s/page mean", "median", "max", "chars/page", "load + warm-up s"],
        rows,
        f"Seconds per page, end to end (graph + reading in context), batch 1, fastest of {args.rounds} round(s)",
    )
    print(
        f"NDL Kotenseki OCR-Lite: {NDL_LITE_SECONDS_PER_PAGE} s/page, its authors' published figure on their "
        "office PC (not measured here, not the same machine)"
    )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; {common.load_note()}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    common.quiet_tensorflow()
    if args.model:
        return real_pages_speed(args)
    started = time.perf_counter()
    common.banner("page_recognition: exported recogniser vs its two forward passes", args)
    with tempfile.TemporaryDirectory(prefix="bench_recognizer_") as tmp:
        data_dir, summary = common.synthetic_kaggle_dir(tmp, args.pages, seed=args.seed, workers=args.parallelism)
        import tensorflow as tf

        from kuzushiji_tf.backends.tf.page_recognizer import crop_characters, decode_page_image
        from kuzushiji_tf.detection.detect import resize_page
        from kuzushiji_tf.recognition.context import read_in_context, shipped_language_model
        from kuzushiji_tf.recognition.contract import COUNT, RecognizerOptions
        from kuzushiji_tf.recognition.postprocess import page_results

        paths = sorted((data_dir / "train_images").glob("*.jpg"))
        encoded = [path.read_bytes() for path in paths]
        images = [decode_page_image(tf.constant(data)) for data in encoded]
        detector, classifier, notes = build_models(args, images)
        setup_s = time.perf_counter() - started
        export_started = time.perf_counter()
        exported = common.export_recognizer(
            detector,
            classifier,
            Path(tmp) / "recognizer" / "1",
            short_side=SHORT_SIDE,
            det_threshold=args.det_threshold,
        )
        serve = tf.saved_model.load(str(exported))
        serve = serve.signatures["serving_default"]
        export_s = time.perf_counter() - export_started
        print(
            f"data    : {len(paths)} synthetic pages {images[0].shape[1]}x{images[0].shape[0]}, "
            f"{summary['chars'] / len(paths):.0f} characters/page in truth; set up {setup_s:.0f} s, "
            f"export + load {export_s:.0f} s"
        )
        print("models  : " + "; ".join(notes))

        side = int(classifier.input_shape[1])  # the classifier's crop size (112 in the recipe)
        detect_forward = tf.function(
            lambda x: detector(x, training=False), input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)]
        )
        classify_forward = tf.function(
            lambda x: classifier(x, training=False), input_signature=[tf.TensorSpec([None, side, side, 3], tf.float32)]
        )
        decode = tf.function(decode_page_image, input_signature=[tf.TensorSpec([], tf.string)])
        resize = tf.function(
            lambda image: resize_page(image, SHORT_SIDE)[0], input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)]
        )
        crop_signature = [tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)]
        crop = tf.function(lambda image, boxes: crop_characters(image, boxes, side), input_signature=crop_signature)
        crop_proposed = tf.function(
            lambda image, boxes: crop_characters_pad_if_needed(image, boxes, side), input_signature=crop_signature
        )

        lm, context_options = shipped_language_model(), RecognizerOptions()

        def in_context(outputs):
            begin = time.perf_counter()
            read_in_context(page_results({k: v.numpy() for k, v in outputs.items()}), context_options, lm)
            return time.perf_counter() - begin

        def timed(function, *inputs):
            begin = time.perf_counter()
            result = function(*inputs)
            tf.nest.map_structure(lambda t: t.numpy(), result)
            return time.perf_counter() - begin, result

        # Per page: the recogniser, then each piece on that page's own inputs; warm-up pass first.
        rng = np.random.default_rng(args.seed)
        best: dict[tuple[str, int], float] = {}
        counts = []
        for round_index in range(args.rounds + 1):
            for i, data in enumerate(encoded):
                seconds, outputs = timed(lambda: serve(images=tf.constant([data])))
                count = int(outputs[COUNT][0])
                if round_index == 0:
                    counts.append(count)
                resized = resize(images[i])
                crops = tf.constant(rng.uniform(0, 255, (count, side, side, 3)).astype(np.float32))
                boxes = outputs["boxes"][0, :count]
                pieces = {
                    "total": seconds,
                    "detector": timed(detect_forward, resized)[0],
                    "classifier": timed(classify_forward, crops)[0],
                    "decode": timed(decode, tf.constant(data))[0],
                    "resize": timed(resize, images[i])[0],
                    "crops": timed(crop, images[i], boxes)[0],
                    "crops_proposed": timed(crop_proposed, images[i], boxes)[0],
                    "context": in_context(outputs),
                }
                if round_index == 0:
                    continue  # warm-up: tracing, first-call allocations
                for name, value in pieces.items():
                    best[name, i] = min(best.get((name, i), float("inf")), value)

        rows = []
        for i in range(len(encoded)):
            total, det, cls = best["total", i], best["detector", i], best["classifier", i]
            rows.append(
                [
                    paths[i].stem,
                    counts[i],
                    1000 * total,
                    1000 * det,
                    1000 * cls,
                    1000 * best["decode", i],
                    1000 * best["resize", i],
                    1000 * best["crops", i],
                    1000 * best["crops_proposed", i],
                    (det + cls) / total,
                ]
            )
        common.print_table(
            [
                "page",
                "chars",
                "total ms",
                "detector ms",
                "classifier ms",
                "decode ms",
                "resize ms",
                "crops ms",
                "crops proto ms",
                "forward share",
            ],
            rows,
            f"Exported recogniser per page at short side {SHORT_SIDE} (fastest of {args.rounds} "
            "round(s) after a warm-up)",
        )
        total = sum(best["total", i] for i in range(len(encoded)))
        forward = sum(best["detector", i] + best["classifier", i] for i in range(len(encoded)))
        other = {
            name: sum(best[name, i] for i in range(len(encoded))) / total for name in ("decode", "resize", "crops")
        }
        rest = 1.0 - forward / total - sum(other.values())
        proposed = sum(best["crops_proposed", i] for i in range(len(encoded)))
        crops_now = sum(best["crops", i] for i in range(len(encoded)))
        context_s = sum(best["context", i] for i in range(len(encoded)))

    print(f"\npages/s of the exported recogniser (batch 1): {len(encoded) / total:.3g}")
    print(
        f"time shares: forward passes {forward / total:.0%}, decode {other['decode']:.0%}, "
        f"resize {other['resize']:.0%}, crop_and_resize {other['crops']:.0%}, "
        f"rest (peaks, NMS, outputs; the remainder, so timing noise lands here) {rest:.0%}"
    )
    print("  " + common.goal_line("forward passes / total time", forward / total, 0.8))
    print(
        f"context decoding (after the graph, Python; {context_options.beam}-wide beam over the top "
        f"{context_options.top_k}): {1000 * context_s / len(encoded):.1f} ms/page, {context_s / total:.1%} "
        "of the recogniser's own time"
    )
    projected = forward / (total - crops_now + proposed)
    print(
        f"prototype crop_characters_pad_if_needed: crops {1000 * crops_now / len(encoded):.0f} -> "
        f"{1000 * proposed / len(encoded):.0f} ms/page; projected share with it {projected:.3g} "
        f"({'MET' if projected >= 0.8 else 'NOT MET'} at 0.8)"
    )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; {common.load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
