"""The exported page recogniser: TF Serving layout, signature, same characters as the Python path,
saved_model_cli, clear errors for bad inputs, and a well-formed PredictRequest."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VOCABULARY, page_bytes, save_training_folders, tiny_page_models
from kuzushiji_tf.backends.loading import load_page_model
from kuzushiji_tf.backends.tf.export import export_model, export_page_recognizer
from kuzushiji_tf.backends.tf.page_recognizer import PageRecognizer
from kuzushiji_tf.cli import export as export_tool
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CLASSIFY_KEYS,
    CLASSIFY_SIGNATURE,
    CODES,
    EXPORT_FORMAT,
    OUT_BOXES,
    OUTPUT_KEYS,
    SIGNATURE,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
    BoxesUnsupported,
    ExportFormatError,
    PageRefused,
    RecognizerOptions,
    read_vocabulary_asset,
)
from kuzushiji_tf.recognition.postprocess import box_results, page_results

VOCABULARY = TINY_VOCABULARY
OPTIONS = RecognizerOptions(short_side=128, det_threshold=0.3, cls_threshold=0.0, max_chars=64, max_pixels=300_000)
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def load_recognizer(path):
    """(the SavedModel's raw serving signature, its vocabulary): what TF Serving runs, without the
    PageModel wrapper, so the tests see the graph's own tensors and errors."""
    return tf.saved_model.load(str(path)).signatures[SIGNATURE], read_vocabulary_asset(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    detector, classifier = tiny_page_models()
    root = tmp_path_factory.mktemp("served")
    path = export_page_recognizer(detector, classifier, VOCABULARY, root / "kuzushiji_page" / "1", OPTIONS)
    export_model(classifier, root / "kuzushiji_classifier" / "1")
    python_path = PageRecognizer(detector, classifier, [c for c, _ in VOCABULARY], OPTIONS)
    return path, python_path, classifier


def test_layout_and_assets(exported):
    path, _, _ = exported
    assert path.name == "1" and (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    serve, vocabulary = load_recognizer(path)
    assert vocabulary == VOCABULARY
    assert set(serve.structured_outputs) == set(OUTPUT_KEYS)
    options = json.loads((path / "assets" / "recognizer.json").read_text())
    # The tiny classifier has 3 classes: the export keeps 3 candidates, not the default 5.
    assert options["export_format"] == EXPORT_FORMAT and options["top_k"] == 3


def test_every_detection_comes_with_its_top_k_candidates(exported):
    path, _, _ = exported
    serve, vocabulary = load_recognizer(path)
    result = page_results(serve(images=tf.constant([page_bytes(".jpg", seed=4)])))
    n = len(result[CODES])
    assert n > 0 and result[TOPK_PROBS].shape == (n, 3) and result[TOPK_CLASS_IDS].shape == (n, 3)
    probs = result[TOPK_PROBS]
    assert np.all(np.diff(probs, axis=1) <= 0) and np.all(probs.sum(axis=1) <= 1 + 1e-5)
    # The top candidate is the character's class; each candidate's code point is its class's.
    codes = [code for code, _ in vocabulary]
    assert [codes[i] for i in result[TOPK_CLASS_IDS][:, 0]] == result[CODES]
    np.testing.assert_array_equal(result[TOPK_PROBS][:, 0], result[CLASS_PROBS])
    expected = [[int(codes[i][2:], 16) for i in row] for row in result[TOPK_CLASS_IDS]]
    assert result[TOPK_CODEPOINTS].tolist() == expected
    # 3 classes, 3 candidates: every class appears once per character.
    assert all(sorted(row) == [0, 1, 2] for row in result[TOPK_CLASS_IDS].tolist())


def test_the_classify_signature_reads_given_boxes_as_the_page_reads_its_own(exported):
    """The web page's drawn boxes go through `classify_boxes`: given the page's own detections, it answers
    the candidates the page signature gave them (the same crop and classifier); any box list, an empty one
    included, gets one answer per box; a bad page is refused as the page signature refuses it."""
    model = load_page_model(exported[0])
    assert CLASSIFY_SIGNATURE in tf.saved_model.load(str(exported[0])).signatures
    page = page_bytes(".jpg", seed=4)
    result = page_results(model([page]))
    assert len(result[CODES]) > 2
    got = model.classify_boxes(page, result[OUT_BOXES])
    assert set(got) == set(CLASSIFY_KEYS)
    boxes = box_results(got)
    assert boxes[CODES] == result[CODES]
    np.testing.assert_array_equal(boxes[OUT_BOXES], result[OUT_BOXES])
    np.testing.assert_array_equal(boxes[TOPK_CLASS_IDS], result[TOPK_CLASS_IDS])
    np.testing.assert_allclose(boxes[TOPK_PROBS], result[TOPK_PROBS], rtol=0, atol=1e-6)
    # Boxes of any size, past the page's edge too (mirrored as the page's own), and none at all.
    drawn = np.array([[0, 0, 12, 30], [150, 250, 230, 330], [40.5, 60.25, 41.5, 61.25]], np.float32)
    got = box_results(model.classify_boxes(page, drawn))
    assert got[TOPK_PROBS].shape == (3, 3) and np.all(np.diff(got[TOPK_PROBS], axis=1) <= 0)
    assert box_results(model.classify_boxes(page, np.zeros((0, 4))))[TOPK_CLASS_IDS].shape == (0, 3)
    with pytest.raises(PageRefused, match="not a JPEG or PNG"):
        model.classify_boxes(b"not an image", drawn)
    # An export written before the signature says what to do.
    model.classify = None
    with pytest.raises(BoxesUnsupported, match="re-export it with kuzushiji-export"):
        model.classify_boxes(page, drawn)


def test_an_export_of_an_earlier_format_is_refused_with_one_line(exported, tmp_path):
    old = tmp_path / "kuzushiji_page" / "1"
    shutil.copytree(exported[0], old)
    options = json.loads((old / "assets" / "recognizer.json").read_text())
    del options["export_format"]
    (old / "assets" / "recognizer.json").write_text(json.dumps(options))
    with pytest.raises(ExportFormatError, match="re-export it with kuzushiji-export") as refused:
        load_page_model(old)
    assert "\n" not in str(refused.value) and str(old) in str(refused.value)


def test_same_characters_as_the_python_path_for_jpeg_and_png(exported):
    path, python_path, _ = exported
    serve, _ = load_recognizer(path)
    pages = [page_bytes(".jpg", seed=1), page_bytes(".png", seed=2), page_bytes(".jpg", (160, 256), seed=3)]
    served = serve(images=tf.constant(pages))
    eager = python_path.recognize(tf.constant(pages))
    assert served[OUT_BOXES].shape == (3, 64, 4)
    for i in range(3):
        a, b = page_results(served, i), page_results(eager, i)
        assert len(a[CODES]) > 0
        assert a[CODES] == b[CODES]
        np.testing.assert_allclose(a[OUT_BOXES], b[OUT_BOXES], atol=1e-3)
        # boxes are in the original image's pixels
        assert a[OUT_BOXES][:, 2].max() <= [200, 200, 160][i] * 1.5


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "input is empty"),
        (b"just some text, not an image", "not a JPEG or PNG"),
        (None, "more than 300000 pixels"),
    ],
)
def test_bad_inputs_give_clear_errors(exported, data, message):
    serve, _ = load_recognizer(exported[0])
    if data is None:
        data = page_bytes(".jpg", size=(600, 600))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(images=tf.constant([data]))


def test_saved_model_cli_show_and_run(exported, tmp_path):
    path, python_path, _ = exported
    show = subprocess.run(
        [str(BIN / "saved_model_cli"), "show", "--dir", str(path), "--all"], capture_output=True, text=True, check=True
    ).stdout
    assert "signature_def['serving_default']" in show and "tensorflow/serving/predict" in show
    assert "inputs['images']" in show and "DT_STRING" in show
    page = tmp_path / "page.jpg"
    page.write_bytes(page_bytes(".jpg", seed=4))
    np.save(tmp_path / "images.npy", np.array([page.read_bytes()], dtype=object), allow_pickle=True)
    out = tmp_path / "out"
    subprocess.run(
        [
            str(BIN / "saved_model_cli"),
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"images={tmp_path / 'images.npy'}",
            "--outdir",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    count = int(np.load(out / "count.npy")[0])
    codes = [c.decode() for c in np.load(out / "codes.npy", allow_pickle=True)[0][:count]]
    expected = page_results(python_path.recognize(tf.constant([page.read_bytes()])))
    assert count > 0 and codes == expected[CODES]


def test_predict_request_is_well_formed(exported):
    from tensorflow_serving.apis import predict_pb2

    serve, _ = load_recognizer(exported[0])
    page = page_bytes()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "kuzushiji_page"
    request.model_spec.signature_name = "serving_default"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([page], dtype=tf.string))
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert set(parsed.inputs) == set(serve.structured_input_signature[1])
    assert parsed.inputs["images"].dtype == tf.string.as_datatype_enum
    assert tf.make_ndarray(parsed.inputs["images"]).tolist() == [page]


def test_classifier_alone_serves(exported, tmp_path):
    _, _, classifier = exported
    loaded = tf.saved_model.load(str(exported[0].parent.parent / "kuzushiji_classifier" / "1"))
    crops = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    served = loaded.signatures["serving_default"](images=tf.constant(crops))
    np.testing.assert_allclose(served["probabilities"].numpy(), classifier(crops)["probabilities"].numpy(), atol=1e-5)


def test_export_tool_from_training_folders(tmp_path, capsys):
    det_dir, cls_dir = save_training_folders(*tiny_page_models(seed=2), tmp_path)
    out = tmp_path / "models" / "kuzushiji_page" / "3"
    assert (
        export_tool.main(
            ["--detector", str(det_dir), "--classifier", str(cls_dir), "--out", str(out), "--short-side", "128"]
        )
        == 0
    )
    for name in ("kuzushiji_page", "kuzushiji_detector", "kuzushiji_classifier"):
        assert (tmp_path / "models" / name / "3" / "saved_model.pb").is_file()
    serve, vocabulary = load_recognizer(out)
    assert vocabulary == VOCABULARY and int(serve(images=tf.constant([page_bytes()]))["count"][0]) >= 0
    assert "export: wrote" in capsys.readouterr().out
    # The same version again is refused, and a vocabulary of the wrong size too.
    assert export_tool.main(["--detector", str(det_dir), "--classifier", str(cls_dir), "--out", str(out)]) == 2
    (cls_dir / "vocabulary.csv").write_text("class_id,code,char\n0,U+3042,あ\n", encoding="utf-8")
    assert (
        export_tool.main(
            [
                "--detector",
                str(det_dir),
                "--classifier",
                str(cls_dir),
                "--out",
                str(tmp_path / "m2" / "kuzushiji_page" / "1"),
            ]
        )
        == 2
    )
    assert "3 classes but" in capsys.readouterr().err


def test_version_folder_is_required(exported, tmp_path):
    _, python_path, classifier = exported
    with pytest.raises(ValueError, match="integer version"):
        export_model(classifier, tmp_path / "kuzushiji_classifier" / "latest")


def test_pages_without_characters_return_empty_results(tmp_path):
    # Peaks of the untrained detector score about 0.5: a 0.9 threshold leaves every page without
    # characters, which must not reach the classifier (Keras layers refuse an empty batch).
    detector, classifier = tiny_page_models()
    path = export_page_recognizer(
        detector,
        classifier,
        VOCABULARY,
        tmp_path / "kuzushiji_page" / "1",
        RecognizerOptions(short_side=128, det_threshold=0.9, max_chars=64),
    )
    serve, _ = load_recognizer(path)
    outputs = serve(images=tf.constant([page_bytes(), page_bytes(".png", seed=5)]))
    assert outputs["count"].numpy().tolist() == [0, 0]
    assert outputs["codes"].shape == (2, 64) and not outputs["boxes"].numpy().any()
