"""Shared fixtures: tiny Kaggle-layout folders written with numpy and OpenCV (no fonts, milliseconds)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "kuzushiji_tf" / "sample_data" / "kaggle_5p"
SCHEMAS = Path(__file__).resolve().parent / "schemas"  # the official PAGE and ALTO XSDs
TINY_MAX_CHARS = 40  # outputs of the shared tiny recogniser are padded to this


def write_page_image(path: Path, width: int, height: int, boxes=(), seed: int = 0) -> None:
    """A paper-coloured page with a dark rectangle of 'ink' inside each xywh box."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (225, 215, 190), np.uint8)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    for x, y, w, h in boxes:
        image[y : y + h, x : x + w] = (30, 30, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


# Three books, two pages each, plus an empty page: enough for a 2-fold book-grouped split.
TINY_PAGES = {
    "bookA_00001_1": [("U+3042", 10, 12, 20, 30), ("U+3044", 40, 60, 25, 25)],
    "bookA_00002_1": [("U+3042", 15, 20, 18, 22)],
    "bookB-001": [("U+304B", 50, 10, 30, 40), ("U+3042", 5, 100, 20, 20), ("U+3044", 70, 120, 10, 15)],
    "bookB-002": [],
    "bookC_00001_2": [("U+304B", 20, 30, 40, 40)],
    "bookC_00002_2": [("U+3044", 30, 40, 12, 50)],
}
TINY_SIZE = (120, 180)  # width, height


def labels_text(chars) -> str:
    return " ".join(f"{code} {x} {y} {w} {h}" for code, x, y, w, h in chars)


def make_kaggle_dir(root: Path, pages=None, test_ids=("test_0001", "test_0002"), size=TINY_SIZE) -> Path:
    """Writes train.csv, unicode_translation.csv (from the bundled sample), sample_submission.csv and images."""
    pages = TINY_PAGES if pages is None else pages
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_DIR / "unicode_translation.csv", root / "unicode_translation.csv")
    lines = ["image_id,labels"] + [f"{image_id},{labels_text(chars)}" for image_id, chars in pages.items()]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    for i, (image_id, chars) in enumerate(pages.items()):
        write_page_image(root / "train_images" / f"{image_id}.jpg", *size, [c[1:] for c in chars], seed=i)
    (root / "sample_submission.csv").write_text("image_id,labels\n" + "".join(f"{t},\n" for t in test_ids))
    for i, test_id in enumerate(test_ids):
        write_page_image(root / "test_images" / f"{test_id}.jpg", *size, seed=100 + i)
    return root


@pytest.fixture
def kaggle_dir(tmp_path) -> Path:
    return make_kaggle_dir(tmp_path / "kaggle")


@pytest.fixture(scope="module")
def tiny_split_records(tmp_path_factory) -> Path:
    """Records of the tiny pages at 256 x 384, split 3 ways by book: train, val, test (one module's)."""
    from kuzushiji_tf.data.records import RecordOptions, build_records

    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle"), size=(256, 384))
    out = tmp_path_factory.mktemp("records")
    build_records(root, out, RecordOptions(num_folds=3), workers=1, progress=False)
    return out


TINY_VOCABULARY = [("U+3042", "あ"), ("U+3044", "い"), ("U+304B", "か")]


def tiny_page_models(seed: int = 1):
    """(detector, classifier): the project's own classes, untrained and tiny. The detector's heatmap prior
    of 0.5 puts peaks everywhere, so the recogniser always has characters to return; the classifier is a
    32-px MobileNetClassifier over 3 classes."""
    import keras

    from kuzushiji_tf.models.centernet import build_centernet
    from kuzushiji_tf.models.classifier import build_classifier

    keras.utils.set_random_seed(seed)
    detector = build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16, heatmap_prior=0.5)
    classifier = build_classifier(len(TINY_VOCABULARY), input_size=32, alpha=0.5, minimalistic=True)
    return detector, classifier


BLOB_WINDOW = 9  # output cells: the blob detector sees a blob's size in this window (at least twice its side)


def blob_detector():
    """A detector without training whose boxes follow the page: every stride-4 cell that is mostly dark is a
    peak, and a box's side is that of the dark square around it (BLOB_WINDOW x sqrt(the dark share of the
    window)), so on `blocks_page` its boxes are the blocks at every scale where a block spans a few cells and
    blurred larger where it does not: what the scale policy needs to see. A functional Keras model with the
    CenterNet output names, exportable to a SavedModel and to ONNX."""
    import keras
    from keras import layers, ops

    image = keras.Input((None, None, 3))
    dark = layers.Lambda(lambda x: ops.clip(((1.0 - ops.mean(x, -1, keepdims=True) / 255.0) - 0.3) / 0.5, 0.0, 1.0))(
        image
    )
    cells = layers.AveragePooling2D(4)(dark)
    heatmap = layers.Lambda(lambda t: 10.0 * (t - 0.5))(cells)
    share = layers.AveragePooling2D(BLOB_WINDOW, strides=1, padding="same")(cells)
    side = layers.Lambda(lambda t: BLOB_WINDOW * ops.sqrt(t))(share)
    offset = layers.Lambda(lambda t: ops.zeros_like(ops.concatenate([t, t], -1)))(cells)
    outputs = {"heatmap": heatmap, "size": layers.Concatenate()([side, side]), "offset": offset}
    return keras.Model(image, outputs)


def blocks_page(block: int, size=(240, 360)) -> bytes:
    """A PNG page (width, height `size`) of dark `block` x `block` squares on a grid of pitch 3 x block:
    characters `block` pixels tall, for the blob detector."""
    width, height = size
    image = np.full((height, width, 3), 220, np.uint8)
    for y in range(block, height - 2 * block, 3 * block):
        for x in range(block, width - 2 * block, 3 * block):
            image[y : y + block, x : x + block] = 30
    return cv2.imencode(".png", image)[1].tobytes()


def save_training_folders(detector, classifier, root: Path) -> tuple[Path, Path]:
    """(root/det, root/cls): the models as training runs leave them (model.keras; the classifier's
    vocabulary.csv of TINY_VOCABULARY), what tools/export.py and tools/measure_real.py read."""
    det_dir, cls_dir = root / "det", root / "cls"
    det_dir.mkdir(parents=True)
    cls_dir.mkdir(parents=True)
    detector.save(det_dir / "model.keras")
    classifier.save(cls_dir / "model.keras")
    (cls_dir / "vocabulary.csv").write_text(
        "class_id,code,char\n" + "".join(f"{i},{code},{char}\n" for i, (code, char) in enumerate(TINY_VOCABULARY)),
        encoding="utf-8",
    )
    return det_dir, cls_dir


def page_bytes(ext=".jpg", size=(200, 300), seed=0) -> bytes:
    """An encoded light page (`ext`: .jpg or .png) with six dark 20 x 30 blocks for a recogniser to find."""
    rng = np.random.default_rng(seed)
    image = np.full((size[1], size[0], 3), 220, np.uint8)
    for _ in range(6):
        x, y = rng.integers(10, size[0] - 40), rng.integers(10, size[1] - 40)
        image[y : y + 30, x : x + 20] = 30
    return cv2.imencode(ext, image)[1].tobytes()


def export_tiny_page_model(folder: Path, max_chars: int) -> Path:
    """`tiny_page_models` exported as `folder/kuzushiji_page/1`: every peak kept (class threshold 0), short
    side 128, outputs padded to `max_chars`."""
    from kuzushiji_tf.backends.tf.export import export_page_recognizer
    from kuzushiji_tf.recognition.contract import RecognizerOptions

    detector, classifier = tiny_page_models()
    options = RecognizerOptions(short_side=128, det_threshold=0.3, cls_threshold=0.0, max_chars=max_chars)
    return export_page_recognizer(detector, classifier, TINY_VOCABULARY, folder / "kuzushiji_page" / "1", options)


@pytest.fixture(scope="session")
def tiny_recognizer(tmp_path_factory) -> Path:
    """`tiny_page_models` exported once per test process (SavedModel, every peak kept, padded to
    TINY_MAX_CHARS): the recogniser that the command, server, web page and Beam tests read. A test must not
    write into its folder."""
    return export_tiny_page_model(tmp_path_factory.mktemp("tiny_recognizer"), max_chars=TINY_MAX_CHARS)


@pytest.fixture(scope="session")
def schemas() -> dict:
    """{"page", "alto"}: the official XSDs as lxml validators."""
    from lxml import etree

    return {
        name: etree.XMLSchema(etree.parse(str(SCHEMAS / file)))
        for name, file in (("page", "pagecontent-2019-07-15.xsd"), ("alto", "alto-4-4.xsd"))
    }


def with_cls_threshold(export: Path, threshold: float, out: Path) -> Path:
    """A copy of an export (`out/kuzushiji_page/1`) whose options asset sets the class threshold to
    `threshold`: since export format 2 the graph does not apply it, so only the asset changes."""
    import json

    from kuzushiji_tf.recognition.contract import ASSETS_DIR, OPTIONS_ASSET

    copy = out / "kuzushiji_page" / "1"
    shutil.copytree(export, copy)
    asset = copy / ASSETS_DIR / OPTIONS_ASSET
    options = json.loads(asset.read_text())
    asset.write_text(json.dumps({**options, "cls_threshold": threshold}, indent=2))
    return copy


def splitting_threshold(probabilities) -> float:
    """A class threshold that some of the float32 `probabilities` fall below and some reach: the distinct
    value at their median (the tiny untrained classifier's differ only in the last bits of 1/3)."""
    levels = np.unique(np.asarray(probabilities, np.float32))
    assert len(levels) >= 2, f"every class probability is {levels}: nothing to split"
    return float(levels[max(len(levels) // 2, 1)])
