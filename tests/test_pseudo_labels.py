"""Pseudo-labels: the filter keeps exactly the predictions at or above both thresholds, and the tool writes
crop records in the training schema with a manifest that counts them."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_kaggle_dir
from kuzushiji_tf.backends.tf.page_recognizer import PageRecognizer
from kuzushiji_tf.cli import pseudo_label as pseudo_tool
from kuzushiji_tf.data import pipeline
from kuzushiji_tf.data.records import RecordOptions, build_records, read_vocabulary, write_vocabulary
from kuzushiji_tf.models.centernet import build_centernet
from kuzushiji_tf.recognition.contract import RecognizerOptions
from kuzushiji_tf.self_training.pseudo_labels import PseudoLabelOptions, confident, label_page


def test_filter_keeps_exactly_those_at_or_above_both_thresholds():
    det = np.array([0.49, 0.5, 0.9, 0.95, 0.3, 0.99])
    cls = np.array([0.99, 0.9, 0.89, 0.95, 0.95, 0.9])
    np.testing.assert_array_equal(confident(det, cls, 0.5, 0.9), [False, True, False, True, False, True])
    assert confident(np.zeros(0), np.zeros(0), 0.5, 0.9).shape == (0,)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle"), size=(256, 384))
    records = tmp_path_factory.mktemp("records")
    build_records(root, records, RecordOptions(num_folds=3), workers=1, progress=False)
    keras.utils.set_random_seed(0)
    # An untrained detector with prior 0.5 finds peaks everywhere; the classifier's confidence varies with
    # the crop's brightness, so both thresholds bite.
    detector = build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16, heatmap_prior=0.5)
    classes = len(read_vocabulary(records))
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 32.0)(inputs))
    outputs = keras.layers.Dense(
        classes, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(0, 0.3)
    )(x)
    classifier = keras.Model(inputs, outputs)
    models = tmp_path_factory.mktemp("models")
    detector.save(models / "det.keras")
    classifier.save(models / "cls.keras")
    return root, records, models, detector, classifier


def test_tool_writes_exactly_the_confident_predictions(setup, tmp_path):
    root, records, models, detector, classifier = setup
    PseudoLabelOptions(det_threshold=0.51, cls_threshold=0.9, short_side=256)
    recognizer = PageRecognizer(
        detector,
        classifier,
        [c for c, _ in read_vocabulary(records)],
        RecognizerOptions(short_side=256, det_threshold=0.0),
    )
    everything = PseudoLabelOptions(det_threshold=0.0, cls_threshold=0.0, short_side=256)
    expected = total = 0
    for page in pipeline.read_test_pages(records):
        _, _, det, cls = label_page(recognizer, page["image"], everything)
        assert len(det) > 0
        expected += int(confident(det, cls, 0.51, 0.9).sum())
        total += len(det)
    assert expected > 0 and expected < total  # both thresholds bite, so the count is informative
    out = tmp_path / "pseudo"
    assert (
        pseudo_tool.main(
            [
                "--detector",
                str(models / "det.keras"),
                "--classifier",
                str(models / "cls.keras"),
                "--records",
                str(records),
                "--out",
                str(out),
                "--det-threshold",
                "0.51",
                "--cls-threshold",
                "0.9",
                "--short-side",
                "256",
                "--quiet",
                "--shards",
                "2",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["crops"] == expected and manifest["pages"] == 2
    assert sum(s["records"] for s in manifest["shards"]) == expected
    crops = list(pipeline.read_crops(out, "train"))
    assert len(crops) == expected
    if crops:
        first = crops[0]
        assert first["image"].shape == (144, 144, 3) and first["image"].dtype == tf.uint8
        assert first["image_id"].numpy().decode().startswith("test_")
        x0, y0, x1, y1 = first["source_box"].numpy()
        assert 0 <= x0 <= x1 <= 256 and 0 <= y0 <= y1 <= 384  # original page pixels
    assert not list(out.glob("*.tmp"))


def test_missing_records_is_a_one_line_error(setup, tmp_path, capsys):
    _, _, models, _, _ = setup
    code = pseudo_tool.main(
        [
            "--detector",
            str(models / "det.keras"),
            "--classifier",
            str(models / "cls.keras"),
            "--records",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("pseudo_label: error:") and "manifest.json is missing" in err


def test_a_classifier_with_more_classes_than_the_records_labels_with_its_own_vocabulary(setup, tmp_path, capsys):
    """A classifier fine-tuned with --init across vocabularies holds the records' classes and more after
    them: its pseudo-labels use its own vocabulary.csv, and one that does not begin with the records' is refused."""
    _, records, models, _, _ = setup
    vocabulary = read_vocabulary(records) + [("U+9999", "x"), ("U+9998", "y")]
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 32.0)(inputs))
    # The two extra classes win every crop: their labels must be their own ids, not the records'.
    outputs = keras.layers.Dense(
        len(vocabulary),
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([0.0] * (len(vocabulary) - 2) + [9.0, 8.0]),
    )(x)
    folder = tmp_path / "cls"
    folder.mkdir()
    keras.Model(inputs, outputs).save(folder / "model.keras")
    write_vocabulary(folder / "vocabulary.csv", vocabulary)
    argv = [
        "--detector",
        str(models / "det.keras"),
        "--classifier",
        str(folder),
        "--records",
        str(records),
        "--det-threshold",
        "0.51",
        "--cls-threshold",
        "0.5",
        "--short-side",
        "256",
        "--quiet",
    ]
    assert pseudo_tool.main(argv + ["--out", str(tmp_path / "pseudo")]) == 0
    assert read_vocabulary(tmp_path / "pseudo") == vocabulary
    crops = list(pipeline.read_crops(tmp_path / "pseudo", "train"))
    assert crops and {int(c["label"]) for c in crops} == {len(vocabulary) - 2}
    assert {c["code"].numpy().decode() for c in crops} == {"U+9999"}

    write_vocabulary(folder / "vocabulary.csv", vocabulary[::-1])
    capsys.readouterr()
    assert pseudo_tool.main(argv + ["--out", str(tmp_path / "refused")]) == 2
    assert "does not begin with the records'" in capsys.readouterr().err and not (tmp_path / "refused").exists()
