"""Trained models measured on labelled REAL pages only: by default the bundled 5 pages of one book
(`sample_data/kaggle_5p`), the project's real test set. Nothing here trains or tunes; `kuzushiji-measure-real`
is the command line around it.

Three measurements, each through the code path the project uses elsewhere, so a figure here is the figure
the deployed model would get:

- classifier: top-1 / top-5 on crops of the TRUE boxes, cut by `page_recognizer.crop_characters` at the
  inference crop factor and the classifier's input size from the page as the exported recogniser decodes
  it; overall, kana and kanji apart, and the share of characters whose code the classifier knows
  (out-of-vocabulary characters count as wrong).
- detector: detection-only F1 of `page_detection.detect_pages` (what `kuzushiji-detect` runs).
- page recogniser (an exported SavedModel or ONNX export): Kaggle F1 and detection-only F1 of
  `batch_recognition.kaggle_points` (what `kuzushiji-make-submission` writes: the class threshold drops the
  unsure characters), and the detection-only F1 of the research output (every detection, as the page
  record written to JSON holds it; the class threshold only flags), scored by `evaluation`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.backends.tf.page_recognizer import class_probabilities, crop_characters, decode_page_image
from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR, DetectorConfig
from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
from kuzushiji_tf.datasets.kaggle_reader import TEST_IMAGES, TRAIN_CSV, TRAIN_IMAGES, read_train
from kuzushiji_tf.detection import detect_pages as page_detection
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.evaluation.metric import Score, evaluate, truth_from_pages
from kuzushiji_tf.models.classifier import num_classes
from kuzushiji_tf.recognition.batch_recognition import kaggle_points, page_detections
from kuzushiji_tf.recognition.context import read_in_context
from kuzushiji_tf.recognition.page_text import page_record
from kuzushiji_tf.structures import Page, code_to_char
from kuzushiji_tf.synthetic.charset import is_kana

DEFAULT_DATA_DIR = SAMPLE_KAGGLE_DIR
DEFAULT_CODH_CSV = SAMPLE_KAGGLE_DIR / "100241706_coordinate_first5pages.csv"  # the sample's reading order
DEFAULT_SHORT_SIDE = DetectorConfig().eval_short_side  # 832, when the detector's config.json does not say
DEFAULT_SCORE_THRESHOLD = DetectorConfig().score_threshold  # kuzushiji-detect's default
DEFAULT_NMS_IOU = DetectorConfig().nms_iou
DEFAULT_CONTAINED_SHARE = DetectorConfig().contained_share
TOP_K = 5
CONFIG_JSON = "config.json"
VOCABULARY_CSV = "vocabulary.csv"
# Columns of the ablation table `append_markdown_row` accumulates.
TABLE_HEADER = ("label", "cls top-1", "kana", "kanji", "det F1", "Kaggle F1", "det-only F1 of recogniser")


class MeasureError(KuzushijiError, ValueError):
    """A missing or unusable model or data folder: the message is one line that names the path."""


# --- data ---------------------------------------------------------------------------------------------


LABELLED_SPLITS = {"train": (TRAIN_CSV, TRAIN_IMAGES), "test": ("test_truth.csv", TEST_IMAGES)}


def labelled_pages(data_dir: str | Path, split: str = "train") -> list[Page]:
    """The labelled pages of a Kaggle-layout folder: train.csv, or with `split` "test" a synthetic set's
    test_truth.csv and test_images/ (books of their own, text from held-out documents); MeasureError when
    there are none."""
    data_dir = Path(data_dir)
    labels, images = LABELLED_SPLITS[split]
    if not data_dir.is_dir():
        raise MeasureError(f"{data_dir}: no such data folder")
    if not (data_dir / labels).is_file():
        raise MeasureError(f"{data_dir}: no {labels} (a labelled Kaggle-layout folder is needed)")
    pages = read_train(data_dir, csv_name=labels, images_name=images).pages
    if not any(page.chars for page in pages):
        raise MeasureError(f"{data_dir / labels}: no labelled characters")
    return pages


def load_page_image(page: Page) -> tf.Tensor:
    """uint8 [H, W, 3]: the page decoded by the exported recogniser's own decoder, so crops see its pixels."""
    return decode_page_image(tf.constant(Path(page.image_path).read_bytes()))


# --- models -------------------------------------------------------------------------------------------


def model_file(path: str | Path, what: str) -> Path:
    """The `.keras` file of a training output folder (or the file itself), or MeasureError naming the path."""
    from kuzushiji_tf.models.saved_models import KERAS_FILE, resolve_keras_file

    path = Path(path)
    if not path.exists():
        raise MeasureError(f"{path}: no such {what} folder")
    try:
        return resolve_keras_file(path)
    except FileNotFoundError:
        raise MeasureError(f"{path}: no {KERAS_FILE} in this {what} folder") from None


def classifier_vocabulary_file(path: str | Path) -> Path:
    vocabulary = model_file(path, "classifier").parent / VOCABULARY_CSV
    if not vocabulary.is_file():
        raise MeasureError(f"{vocabulary}: missing (the classifier's class id -> code table)")
    return vocabulary


def recognizer_folder(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise MeasureError(f"{path}: no such recogniser folder")
    from kuzushiji_tf.recognition.contract import is_page_model

    if not is_page_model(path):
        raise MeasureError(
            f"{path}: no saved_model.pb nor detector.onnx + classifier.onnx (export a page "
            f"recogniser with kuzushiji-export)"
        )
    return path


def load_classifier(path: str | Path):
    """(Keras classifier, [code] indexed by class id) of a classifier training folder."""
    from kuzushiji_tf.data.records import read_vocabulary
    from kuzushiji_tf.models.saved_models import load_model

    vocabulary_file = classifier_vocabulary_file(path)
    classifier = load_model(model_file(path, "classifier"))
    codes = [code for code, _ in read_vocabulary(vocabulary_file.parent)]
    if num_classes(classifier) != len(codes):
        raise MeasureError(
            f"{vocabulary_file}: lists {len(codes)} classes but the classifier has {num_classes(classifier)}"
        )
    return classifier, codes


def detector_config(path: str | Path) -> dict:
    """The `config.json` the training run wrote beside the detector's model (its model settings, records
    folder, ...), or {} when there is none or it cannot be read."""
    try:
        saved = json.loads((model_file(path, "detector").parent / CONFIG_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def detector_short_side(path: str | Path) -> int:
    """The detector's validation short side from the `config.json` beside its model, else 832."""
    try:
        return int(detector_config(path)["model"]["eval_short_side"])
    except (KeyError, TypeError, ValueError):
        return DEFAULT_SHORT_SIDE


# --- classifier on the true boxes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-k over `count` characters; a rate is 0.0 when `count` is 0."""

    count: int
    top1_correct: int
    top5_correct: int

    @property
    def top1(self) -> float:
        return self.top1_correct / self.count if self.count else 0.0

    @property
    def top5(self) -> float:
        return self.top5_correct / self.count if self.count else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "top1": self.top1, "top5": self.top5}


@dataclass(frozen=True)
class ClassifierScores:
    """Accuracy overall, on kana (hiragana and katakana) and on kanji (everything else), over every true
    box; `in_vocabulary` characters have a code the classifier knows, `known` is the accuracy on them."""

    overall: Accuracy
    kana: Accuracy
    kanji: Accuracy
    in_vocabulary: int
    known: Accuracy
    classes: int
    input_size: int

    @property
    def in_vocabulary_share(self) -> float:
        return self.in_vocabulary / self.overall.count if self.overall.count else 0.0

    def as_dict(self) -> dict:
        return {
            "overall": self.overall.as_dict(),
            "kana": self.kana.as_dict(),
            "kanji": self.kanji.as_dict(),
            "in_vocabulary": self.in_vocabulary,
            "in_vocabulary_share": self.in_vocabulary_share,
            "in_vocabulary_accuracy": self.known.as_dict(),
            "classes": self.classes,
            "input_size": self.input_size,
        }


def true_codes(pages: Iterable[Page]) -> list[str]:
    """Every labelled character's code, pages in order, characters in train.csv order."""
    return [char.code for page in pages for char in page.chars]


def classify_true_boxes(
    classifier,
    pages: Sequence[Page],
    *,
    batch_size: int = 256,
    load: Callable[[Page], tf.Tensor] = load_page_image,
    progress: bool = True,
    with_probabilities: bool = False,
    top_k: int = TOP_K,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """int32 [N, min(5, classes)] class ids, best first, of every true box (pages in order, characters in
    train.csv order); with `with_probabilities`, also their float32 [N, k] probabilities. Each crop is what
    the exported recogniser would classify for that box: `crop_characters` at `INFERENCE_CROP_FACTOR` and
    the classifier's input size, from the page as the recogniser decodes it."""
    from kuzushiji_tf.progress import Progress

    size = int(classifier.input_shape[1])
    k = min(top_k, num_classes(classifier))
    ranked, ranked_probabilities = [np.zeros((0, k), np.int32)], [np.zeros((0, k), np.float32)]
    with Progress(sum(len(p.chars) for p in pages), "crops", label="classify ", enabled=progress) as bar:
        for page in pages:
            if not page.chars:
                continue
            image = load(page)
            boxes = np.asarray([char.box for char in page.chars], np.float32)
            for start in range(0, len(boxes), batch_size):
                crops = crop_characters(
                    image, tf.constant(boxes[start : start + batch_size]), size, INFERENCE_CROP_FACTOR
                )
                probabilities = class_probabilities(classifier(crops, training=False))
                # top_k puts the lower index first among ties, as the recogniser's argmax does.
                top = tf.math.top_k(probabilities, k=k)
                ranked.append(top.indices.numpy().astype(np.int32))
                ranked_probabilities.append(top.values.numpy().astype(np.float32))
                bar.update(len(crops))
    if with_probabilities:
        return np.concatenate(ranked, 0), np.concatenate(ranked_probabilities, 0)
    return np.concatenate(ranked, 0)


def score_classifier(
    codes: Sequence[str], vocabulary: Sequence[str], ranked: np.ndarray, input_size: int = 0
) -> ClassifierScores:
    """Scores of ranked class ids ([N, k], best first) against the true `codes` [N]; `vocabulary` maps a
    class id to its code. A character whose code is not in the vocabulary is wrong at every rank."""
    ranked = np.asarray(ranked).reshape(len(codes), -1)
    names = np.asarray(list(vocabulary), dtype=object)[ranked] if len(codes) else np.zeros((0, 1), object)
    truth = np.asarray(list(codes), dtype=object)
    hit = names == truth[:, None]  # [N, k]
    top1, top5 = hit[:, 0], hit[:, :TOP_K].any(axis=1)
    kana = np.asarray([is_kana(code_to_char(code)) for code in codes], bool)
    in_vocabulary = set(vocabulary)
    known = np.asarray([code in in_vocabulary for code in codes], bool)

    def accuracy(mask: np.ndarray) -> Accuracy:
        return Accuracy(int(mask.sum()), int(top1[mask].sum()), int(top5[mask].sum()))

    everything = np.ones(len(codes), bool)
    return ClassifierScores(
        accuracy(everything),
        accuracy(kana),
        accuracy(~kana),
        int(known.sum()),
        accuracy(known),
        len(vocabulary),
        input_size,
    )


def measure_classifier(
    classifier, vocabulary: Sequence[str], pages: Sequence[Page], *, batch_size: int = 256, progress: bool = True
) -> ClassifierScores:
    """`score_classifier` of `classify_true_boxes`: the classifier alone on the pages' true boxes."""
    ranked = classify_true_boxes(classifier, pages, batch_size=batch_size, progress=progress)
    return score_classifier(true_codes(pages), vocabulary, ranked, int(classifier.input_shape[1]))


# --- detector and page recogniser ---------------------------------------------------------------------


def measure_detector(
    detector,
    pages: Sequence[Page],
    *,
    short_side: int = DEFAULT_SHORT_SIDE,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    nms_iou: float = DEFAULT_NMS_IOU,
    contained_share: float = DEFAULT_CONTAINED_SHARE,
    progress: bool = True,
) -> Score:
    """Detection-only score of the detector alone, by the code `kuzushiji-detect` runs."""
    found = page_detection.detect_pages(
        detector,
        pages,
        progress=progress,
        short_side=short_side,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        contained_share=contained_share,
    )
    return evaluate(truth_from_pages(pages), page_detection.as_submission(found)).detection


@dataclass(frozen=True)
class RecognizerScores:
    """`labelled` and `detection`: the Kaggle submission's scores (class threshold applied, as
    `kuzushiji-make-submission` writes it); `research_detection`: detection-only score of the research
    output, every detection as the page record (JSON) keeps it."""

    labelled: Score
    detection: Score
    research_detection: Score
    alone: Score | None = None  # Kaggle (labelled) score with each character read alone, when `labelled` is in context
    context_seconds: float = 0.0  # what reading in context took over all pages


def record_points(record: dict) -> list[tuple[str, float, float]]:
    """`[(code, x, y)]` of a page record's characters (box centres): what its JSON file says was found."""
    return [(c["code"], (c["box"][0] + c["box"][2]) / 2, (c["box"][1] + c["box"][3]) / 2) for c in record["characters"]]


def measure_recognizer(
    model, pages: Sequence[Page], *, batch_size: int = 4, progress: bool = True, context: bool = True
) -> RecognizerScores:
    """Scores of an exported page recogniser (`contract.PageModel`), from one run over the pages: Kaggle
    (labelled) and detection-only F1 of the submission `kuzushiji-make-submission` writes, and the
    detection-only F1 of the research output (`page_text.page_record` of every detection). With `context`,
    the pages are read in context (`context.read_in_context`, the export's settings) and `alone` holds the
    Kaggle score of the same detections read one character at a time."""
    truth = truth_from_pages(pages)
    detections = page_detections(model, pages, batch_size=batch_size, progress=progress, context=False)
    alone, seconds = None, 0.0
    if context:
        alone = evaluate(truth, kaggle_points(detections, model.options.cls_threshold)).labelled
        start = time.perf_counter()
        detections = {image_id: read_in_context(r, model.options) for image_id, r in detections.items()}
        seconds = time.perf_counter() - start
    kaggle = evaluate(truth, kaggle_points(detections, model.options.cls_threshold))
    threshold = model.options.cls_threshold
    records = {image_id: page_record(image_id, r, {}, cls_threshold=threshold) for image_id, r in detections.items()}
    research = evaluate(truth, {image_id: record_points(record) for image_id, record in records.items()})
    return RecognizerScores(kaggle.labelled, kaggle.detection, research.detection, alone, seconds)


# --- reporting ----------------------------------------------------------------------------------------


def _cell(figures: dict, *keys: str) -> str:
    value = figures
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return "–"
        value = value[key]
    return f"{value:.3f}"


def markdown_row(figures: dict) -> str:
    """One row of the ablation table (`TABLE_HEADER`); a stage that was not measured shows `–`."""
    cells = [
        str(figures.get("label", "")).replace("|", "\\|"),
        _cell(figures, "classifier", "overall", "top1"),
        _cell(figures, "classifier", "kana", "top1"),
        _cell(figures, "classifier", "kanji", "top1"),
        _cell(figures, "detector", "detection", "f1"),
        _cell(figures, "recognizer", "labelled", "f1"),
        _cell(figures, "recognizer", "detection", "f1"),
    ]
    return "| " + " | ".join(cells) + " |"


def append_markdown_row(path: str | Path, figures: dict) -> Path:
    """Appends `markdown_row(figures)` to a markdown table file (header first when the file is new or
    empty); the file is rewritten atomically, so a kill never leaves half a row."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not text.strip():
        text = "| " + " | ".join(TABLE_HEADER) + " |\n" + "|" + " --- |" * len(TABLE_HEADER) + "\n"
    elif not text.endswith("\n"):
        text += "\n"
    return write_atomic(path, text + markdown_row(figures) + "\n", make_parents=True)


def write_json(path: str | Path, figures: dict) -> Path:
    return write_atomic(path, json.dumps(figures, ensure_ascii=False, indent=1) + "\n", make_parents=True)


def _score_text(score: dict) -> str:
    return (
        f"F1 {score['f1']:.4f}  P {score['precision']:.4f}  R {score['recall']:.4f}  "
        f"(TP {score['tp']}  FP {score['fp']}  FN {score['fn']})"
    )


def format_table(figures: dict) -> str:
    """The figures as a readable text table."""
    rows = [
        f"label: {figures.get('label', '')}",
        f"data:  {figures['data_dir']}  ({figures['pages']} pages, {figures['characters']} characters)",
    ]
    c = figures.get("classifier")
    if c:

        def acc(name: str, a: dict) -> str:
            return (
                f"  {name:<26}top-1 {a['top1']:.4f} ({a['top1_correct']}/{a['count']})  "
                f"top-5 {a['top5']:.4f} ({a['top5_correct']}/{a['count']})"
            )

        rows += [
            f"classifier  {c['model']}  ({c['classes']} classes, {c['input_size']} px crops of the true boxes)",
            acc("all characters", c["overall"]),
            acc("kana", c["kana"]),
            acc("kanji", c["kanji"]),
            f"  {'in vocabulary':<26}{c['in_vocabulary_share']:.4f} ({c['in_vocabulary']}/{c['overall']['count']})",
            acc("of those in vocabulary", c["in_vocabulary_accuracy"]),
        ]
    d = figures.get("detector")
    if d:
        rows += [
            f"detector    {d['model']}  (short side {d['short_side']}, threshold {d['score_threshold']})",
            f"  {'detection-only':<26}{_score_text(d['detection'])}",
        ]
    r = figures.get("recognizer")
    if r:
        options = r.get("options") or {}
        settings = ", ".join(
            f"{name.replace('_', ' ')} {options[name]}"
            for name in ("short_side", "det_threshold", "cls_threshold")
            if name in options
        )
        rows += [
            f"recogniser  {r['model']}" + (f"  ({settings})" if settings else ""),
            f"  {'Kaggle (labelled)':<26}{_score_text(r['labelled'])}",
            f"  {'detection-only, Kaggle':<26}{_score_text(r['detection'])}  (after the class threshold)",
        ]
        if "research_detection" in r:
            rows.append(
                f"  {'detection-only, research':<26}{_score_text(r['research_detection'])}  (every character, as in JSON)"
            )
    return "\n".join(rows)
