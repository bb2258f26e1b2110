"""tools/transcribe.py: one-line errors before any model loads, and (slow) text and JSON from a tiny
exported recogniser, in the reading order of `inference.reading_order`."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SAMPLE_DIR
from kuzushiji_tf.cli import transcribe as transcribe_tool

VOCABULARY = [("U+3042", "あ"), ("U+3044", "い"), ("U+304B", "か")]


def _page(path: Path, size=(200, 300), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    image = np.full((size[1], size[0], 3), 220, np.uint8)
    for _ in range(8):
        x, y = rng.integers(10, size[0] - 40), rng.integers(10, size[1] - 40)
        image[y : y + 30, x : x + 20] = 30
    cv2.imwrite(str(path), image)
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("transcribe: error:") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "image file is missing"),
        (b"", "image file is empty"),
        (b"GIF89a not a page", "not a readable image"),
        ("truncated", "corrupt image data"),
    ],
)
def test_bad_pages_fail_in_one_line_before_the_model_loads(tmp_path, capsys, content, message):
    good = _page(tmp_path / "good.jpg")
    bad = tmp_path / "bad.jpg"
    if content == "truncated":
        bad.write_bytes((SAMPLE_DIR / "train_images" / "100241706_00004_2.jpg").read_bytes()[:20000])
    elif content is not None:
        bad.write_bytes(content)
    # The model does not exist either: the page is reported first, since pages are checked first.
    assert transcribe_tool.main([str(good), str(bad), "--model", str(tmp_path / "no_model" / "1")]) == 2
    err = _error(capsys)
    assert "bad.jpg" in err and message in err


def test_missing_model_fails_in_one_line(tmp_path, capsys):
    page = _page(tmp_path / "page.png")
    (tmp_path / "model" / "1").mkdir(parents=True)
    assert transcribe_tool.main([str(page), "--model", str(tmp_path / "model" / "1")]) == 2
    assert "neither a SavedModel (saved_model.pb) nor an ONNX export" in _error(capsys)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras

    from kuzushiji_tf.backends.tf.export import export_page_recognizer
    from kuzushiji_tf.models.centernet import build_centernet
    from kuzushiji_tf.recognition.contract import RecognizerOptions

    keras.utils.set_random_seed(1)
    # heatmap_prior 0.5 puts every cell at the threshold: untrained, the detector still reports characters.
    detector = build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16, heatmap_prior=0.5)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 64.0)(inputs))
    classifier = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    options = RecognizerOptions(short_side=128, det_threshold=0.3, cls_threshold=0.0, max_chars=64, max_pixels=300_000)
    root = tmp_path_factory.mktemp("served")
    return export_page_recognizer(detector, classifier, VOCABULARY, root / "kuzushiji_page" / "1", options)


@pytest.mark.slow
def test_pages_print_as_columns_in_reading_order(exported, tmp_path, capsys):
    pages = [_page(tmp_path / "a.jpg", seed=1), _page(tmp_path / "b.png", (160, 256), seed=2)]
    assert transcribe_tool.main([str(p) for p in pages] + ["--model", str(exported), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in records] == ["a.jpg", "b.png"]
    from kuzushiji_tf.recognition.page_text import page_record

    for record in records:
        chars = record["characters"]
        assert chars and {c["char"] for c in chars} <= {"あ", "い", "か"}
        columns = [c["column"] for c in chars]
        assert columns == sorted(columns) and columns[-1] == len(record["columns"]) - 1
        # The columns are what the library's page record gives for the same boxes, whatever their order.
        shuffled = chars[::-1]
        result = {
            "codes": [c["code"] for c in shuffled],
            "boxes": np.array([c["box"] for c in shuffled], np.float32),
            "detection_scores": np.array([c["detection_score"] for c in shuffled], np.float32),
            "class_probabilities": np.array([c["class_probability"] for c in shuffled], np.float32),
        }
        assert record["columns"] == page_record(record["image"], result, dict(VOCABULARY), cls_threshold=0.0)["columns"]
    assert transcribe_tool.main([str(p) for p in pages] + ["--model", str(exported)]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = records[0]
    assert lines[0] == f"== a.jpg: {len(first['characters'])} characters, {len(first['columns'])} columns"
    assert lines[1 : 1 + len(first["columns"])] == first["columns"]
    assert lines[1 + len(first["columns"])].startswith("== b.png: ")


@pytest.mark.slow
def test_a_page_the_model_refuses_fails_in_one_line(exported, tmp_path, capsys):
    big = _page(tmp_path / "big.jpg", size=(600, 600))  # over the export's 300,000-pixel limit
    assert transcribe_tool.main([str(big), "--model", str(exported)]) == 2
    model, err = capsys.readouterr().err.split("\n", 1)  # which model refused it, then the one-line error
    assert model == f"model: {exported} (--model)" and err.startswith("transcribe: error:") and err.count("\n") == 1
    assert "big.jpg" in err and "more than 300000 pixels" in err
