"""The ONNX page recogniser (`tools/export.py --format onnx`, `kuzushiji_tf.backends.onnx`): its layout,
a runtime free of TensorFlow, the SavedModel's characters from the same models on real and synthetic
pages, each step of the glue against the TensorFlow function it replaces, refusals, tools/recognize.py."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from conftest import (
    SAMPLE_DIR,
    TINY_VOCABULARY,
    blob_detector,
    blocks_page,
    page_bytes,
    save_training_folders,
    tiny_page_models,
)
from kuzushiji_tf.backends.loading import load_page_model
from kuzushiji_tf.backends.tf.export import export_page_recognizer
from kuzushiji_tf.cli import export as export_tool
from kuzushiji_tf.cli import recognize as recognize_tool
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CLASSIFY_KEYS,
    CODES,
    COUNT,
    DET_SCORES,
    OUT_BOXES,
    OUTPUT_KEYS,
    SHORT_SIDE,
    TOPK_CLASS_IDS,
    TOPK_PROBS,
    PageRefused,
    RecognizerOptions,
)
from kuzushiji_tf.recognition.postprocess import box_results, page_results

REPO = Path(__file__).resolve().parents[1]
OPTIONS = RecognizerOptions(short_side=256, det_threshold=0.3, cls_threshold=0.0, max_chars=1200)
REAL_PAGES = sorted((SAMPLE_DIR / "train_images").glob("*.jpg")) + sorted((SAMPLE_DIR / "test_images").glob("*.jpg"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(SavedModel folder, ONNX folder, the tool's argv) of the same tiny models: the SavedModel written
    from the models in memory, the ONNX export by tools/export.py from their saved .keras files."""
    detector, classifier = tiny_page_models()
    root = tmp_path_factory.mktemp("onnx_export")
    det_dir, cls_dir = save_training_folders(detector, classifier, root)
    saved_model = export_page_recognizer(detector, classifier, TINY_VOCABULARY, root / "kuzushiji_page" / "1", OPTIONS)
    onnx_dir = root / "kuzushiji_page_onnx" / "1"
    argv = [
        "--format",
        "onnx",
        "--detector",
        str(det_dir),
        "--classifier",
        str(cls_dir),
        "--out",
        str(onnx_dir),
        "--short-side",
        str(OPTIONS.short_side),
        "--cls-threshold",
        "0",
        "--scale",  # as OPTIONS: the auto policy has its own test below
        "fixed",
    ]
    assert export_tool.main(argv) == 0
    return saved_model, onnx_dir, argv


@pytest.fixture(scope="module")
def models(exported):
    return load_page_model(exported[0]), load_page_model(exported[1])


def test_export_tool_writes_the_layout_and_refuses_an_existing_version(exported, capsys):
    saved_model, onnx_dir, argv = exported
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["assets", "classifier.onnx", "detector.onnx"]
    assert sorted(p.name for p in (onnx_dir / "assets").iterdir()) == [
        "onnx_runtime.json",
        "recognizer.json",
        "vocabulary.csv",
    ]
    for asset in ("recognizer.json", "vocabulary.csv"):  # the SavedModel's assets, byte for byte
        assert (onnx_dir / "assets" / asset).read_bytes() == (saved_model / "assets" / asset).read_bytes()
    runtime = json.loads((onnx_dir / "assets" / "onnx_runtime.json").read_text())
    assert (runtime["output_stride"], runtime["crop_size"], runtime["num_classes"]) == (4, 32, 3)
    assert not list(onnx_dir.parent.glob(".*tmp"))  # written through a temporary sibling, renamed
    assert not (onnx_dir.parent.parent / "kuzushiji_detector").exists()  # no SavedModel parts with onnx
    capsys.readouterr()
    assert export_tool.main(argv) == 2
    assert "already holds a model" in capsys.readouterr().err


def test_export_tool_says_what_to_install_without_tf2onnx(exported, monkeypatch, capsys, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else find_spec(name, *a)
    )
    argv = list(exported[2])
    argv[argv.index("--out") + 1] = str(tmp_path / "m" / "1")
    assert export_tool.main(argv) == 2
    assert "pip install -e .[onnx]" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_runtime_imports_no_tensorflow(exported, tmp_path):
    page = tmp_path / "page.jpg"
    page.write_bytes(page_bytes(seed=3))
    code = (
        "import sys; from kuzushiji_tf.backends.loading import load_page_model; "
        f"m = load_page_model({str(exported[1])!r}); out = m([open({str(page)!r}, 'rb').read()]); "
        "print(m.backend, int(out['count'][0]), 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    backend, count, tf_loaded, keras_loaded = result.stdout.split()
    assert (backend, tf_loaded, keras_loaded) == ("onnx", "False", "False")
    assert int(count) > 0


def _compare(tf_out: dict, onnx_out: dict, pages: int) -> tuple[int, int]:
    """Asserts the two backends' outputs agree: same shapes and kinds; per page the same count, and every
    character matched to one of the SavedModel's with a box within a pixel, the same code and scores within
    1e-3. Returns (characters compared, characters in another place of the list)."""
    assert set(onnx_out) == set(OUTPUT_KEYS)
    for key in OUTPUT_KEYS:
        assert onnx_out[key].shape == tf_out[key].shape, key
        assert onnx_out[key].dtype.kind == tf_out[key].dtype.kind, key
    np.testing.assert_array_equal(onnx_out[SHORT_SIDE], tf_out[SHORT_SIDE])  # the same scale chosen per page
    compared = moved = 0
    for i in range(pages):
        a, b = page_results(tf_out, i), page_results(onnx_out, i)
        n = len(a[CODES])
        assert len(b[CODES]) == n > 0
        # The characters come best score first. On flat synthetic pages identical patches give logits that
        # TensorFlow computes equal and ONNX Runtime 1 ulp apart (or the reverse): tied peaks then swap
        # places. So each character is matched by its box, and a move is allowed only within a tie.
        distance = np.abs(b[OUT_BOXES][:, None, :] - a[OUT_BOXES][None, :, :]).max(axis=2)  # [onnx, tf]
        match = distance.argmin(axis=1)
        assert (distance[np.arange(n), match] <= 1.0).all() and len(set(match.tolist())) == n
        np.testing.assert_allclose(a[DET_SCORES][match], a[DET_SCORES], rtol=0, atol=1e-6)  # moved within a tie
        # Exactly the same codes, near-tied class probabilities included: the pixels, the crops and the peaks
        # are the SavedModel's and ONNX Runtime's probabilities differ from TensorFlow's by ~1e-7, so a flip
        # would need a top-2 margin that small. None was seen; none is allowed.
        assert [a[CODES][j] for j in match] == b[CODES]
        np.testing.assert_allclose(b[DET_SCORES], a[DET_SCORES][match], rtol=0, atol=1e-3)
        np.testing.assert_allclose(b[CLASS_PROBS], a[CLASS_PROBS][match], rtol=0, atol=1e-3)
        # The candidates too: the same classes in the same order, probabilities within 1e-3.
        assert b[TOPK_CLASS_IDS].tolist() == a[TOPK_CLASS_IDS][match].tolist()
        np.testing.assert_allclose(b[TOPK_PROBS], a[TOPK_PROBS][match], rtol=0, atol=1e-3)
        compared += n
        moved += int((match != np.arange(n)).sum())
    return compared, moved


def test_same_characters_as_the_saved_model_on_real_pages(models):
    saved_model, onnx = models
    pages = [p.read_bytes() for p in REAL_PAGES]
    assert len(pages) == 7
    compared, moved = _compare(saved_model(pages), onnx(pages), len(pages))
    assert compared > 1000 and moved <= compared // 100  # noisy scans have few exact ties (none seen)


def test_same_characters_as_the_saved_model_on_synthetic_jpeg_and_png(models):
    saved_model, onnx = models
    pages = [
        page_bytes(".jpg", seed=1),
        page_bytes(".png", seed=2),
        page_bytes(".jpg", (160, 256), seed=3),
        page_bytes(".png", (333, 97), seed=4),
    ]
    compared, moved = _compare(saved_model(pages), onnx(pages), len(pages))
    assert moved <= compared // 20  # ~100 of ~4,000 seen, all swaps of tied neighbours in the list


def test_same_short_sides_and_characters_under_the_auto_scale_policy(tmp_path):
    """The scale policy picks the same short side in both backends (a second pass or none), and the second
    pass finds the same characters: pages of small, on-scale and large blocks for the blob detector, and a
    real page."""
    from kuzushiji_tf.backends.onnx.export import export_onnx_recognizer

    detector, (_, classifier) = blob_detector(), tiny_page_models()
    options = RecognizerOptions(
        short_side=128, cls_threshold=0.0, max_chars=1200, scale_policy="auto", target_char_height=12.8
    )
    saved_model = load_page_model(
        export_page_recognizer(detector, classifier, TINY_VOCABULARY, tmp_path / "tf" / "1", options)
    )
    onnx = load_page_model(
        export_onnx_recognizer(detector, classifier, TINY_VOCABULARY, tmp_path / "onnx" / "1", options)
    )
    pages = [blocks_page(12), blocks_page(24), blocks_page(48, size=(360, 540)), REAL_PAGES[0].read_bytes()]
    tf_out = saved_model(pages)
    assert tf_out[SHORT_SIDE][0] > 128 and tf_out[SHORT_SIDE][1] == 128 and tf_out[SHORT_SIDE][2] < 128
    compared, moved = _compare(tf_out, onnx(pages), len(pages))
    assert moved <= compared // 20


def test_classify_boxes_gives_the_saved_models_candidates(models):
    """The classify entry point of both backends on the same boxes (a real page's detections, boxes drawn
    anywhere, off the page's edge, tiny): the same classes in the same order, probabilities within 1e-5."""
    saved_model, onnx = models
    page = REAL_PAGES[0].read_bytes()
    detected = page_results(saved_model([page]))[OUT_BOXES][:40]
    drawn = np.array([[0, 0, 30, 50], [300, 400, 380, 470], [-10, -10, 20, 25], [100, 100, 101.5, 102]], np.float32)
    for boxes in (detected, drawn, np.zeros((0, 4), np.float32)):
        a, b = saved_model.classify_boxes(page, boxes), onnx.classify_boxes(page, boxes)
        assert set(a) == set(b) == set(CLASSIFY_KEYS)
        for key in CLASSIFY_KEYS:
            assert a[key].shape == b[key].shape and a[key].dtype.kind == b[key].dtype.kind, key
        a, b = box_results(a), box_results(b)
        assert a[CODES] == b[CODES] and b[TOPK_CLASS_IDS].tolist() == a[TOPK_CLASS_IDS].tolist()
        np.testing.assert_array_equal(a[OUT_BOXES], b[OUT_BOXES])
        np.testing.assert_allclose(b[TOPK_PROBS], a[TOPK_PROBS], rtol=0, atol=1e-5)
    with pytest.raises(PageRefused, match="not a JPEG or PNG"):
        onnx.classify_boxes(b"GIF89a", drawn)


def test_the_classify_route_answers_alike_on_both_backends(models):
    """POST /classify (the web page's drawn boxes) on a server of each backend: the same characters and
    candidates for the same boxes."""
    from kuzushiji_tf.serving.app import ServerConfig, create_app
    from serving_helpers import ThreadServer, form, http

    boxes = [[10, 10, 60, 80], [400, 500, 470, 590], [900, 1200, 960, 1290]]
    body, headers = form({"file": ("p.jpg", REAL_PAGES[0].read_bytes()), "boxes": json.dumps(boxes).encode()})
    answers = []
    for model in models:
        server = ThreadServer(create_app(model, ServerConfig()))
        try:
            status, _, got = http("POST", server.url + "/classify", body, headers)
        finally:
            server.stop()
        assert status == 200, got
        answers.append(json.loads(got)["characters"])
    tf_answer, onnx_answer = answers
    assert len(tf_answer) == len(onnx_answer) == 3
    for a, b in zip(tf_answer, onnx_answer):
        assert (a["box"], a["code"], a["char"]) == (b["box"], b["code"], b["char"])
        assert [c["code"] for c in a["candidates"]] == [c["code"] for c in b["candidates"]]
        probabilities = [(c["probability"], d["probability"]) for c, d in zip(a["candidates"], b["candidates"])]
        assert all(abs(x - y) <= 2e-4 for x, y in probabilities)  # equal before the JSON's rounding


def test_an_empty_batch_and_a_page_without_characters(exported, tmp_path):
    folder = tmp_path / "strict" / "1"
    shutil.copytree(exported[1], folder)
    options = json.loads((folder / "assets" / "recognizer.json").read_text())
    (folder / "assets" / "recognizer.json").write_text(json.dumps({**options, "det_threshold": 0.99}))
    model = load_page_model(folder)
    out = model([page_bytes(), page_bytes(".png", seed=5)])
    assert out[COUNT].tolist() == [0, 0] and out[CODES].shape == (2, 1200) and not out[OUT_BOXES].any()
    assert {key: value.shape for key, value in model([]).items()}[OUT_BOXES] == (0, 1200, 4)


# --- each step against the TensorFlow function it replaces -------------------------------------------------


@pytest.mark.parametrize(
    "source,target",
    [
        ((3874, 2404), (416, 256)),  # a real page down to a short side of 256
        ((100, 77), (32, 64)),  # down in y, up in x
        ((37, 53), (96, 128)),  # up
        ((64, 48), (63, 47)),  # barely down, odd sizes
        ((31, 17), (31, 17)),  # the same size
        ((5, 3), (64, 1)),
    ],
)
def test_resize_matches_tf_image_resize_antialias(source, target):
    from kuzushiji_tf.backends.onnx.images import resize_antialias

    image = np.random.default_rng(sum(source)).integers(0, 256, (*source, 3)).astype(np.uint8)
    expected = tf.image.resize(tf.cast(image, tf.float32), target, method="bilinear", antialias=True).numpy()
    ours = resize_antialias(image, *target)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)  # equal on this build: same weights, same order


def test_resize_page_matches_detection_resize_page():
    from kuzushiji_tf.backends.onnx.images import resize_page
    from kuzushiji_tf.detection.detect import SIZE_MULTIPLE
    from kuzushiji_tf.detection.detect import resize_page as tf_resize_page

    image = np.random.default_rng(0).integers(0, 256, (301, 187, 3)).astype(np.uint8)
    for short_side in (128, 256, 250, 833):
        inputs, scale = resize_page(image, short_side, SIZE_MULTIPLE)
        expected, expected_scale = tf_resize_page(image, short_side)
        assert inputs.shape == tuple(expected.shape)
        np.testing.assert_array_equal(scale, expected_scale.numpy())
        np.testing.assert_allclose(inputs, expected.numpy(), rtol=0, atol=1e-4)


def test_sigmoid_is_tensorflows():
    from kuzushiji_tf.backends.onnx.postprocess import sigmoid

    for n in (7, 8, 1001, 64 * 48):  # the last n % 8 take Eigen's scalar path
        x = np.random.default_rng(n).normal(0, 4, n).astype(np.float32)
        np.testing.assert_array_equal(sigmoid(x), tf.sigmoid(x).numpy())


def test_peaks_and_nms_match_the_tf_functions():
    from kuzushiji_tf.backends.onnx.postprocess import centernet_peaks, non_max_suppression
    from kuzushiji_tf.models.centernet import BOXES, NUM_DETECTIONS, SCORES, centernet_postprocess

    rng = np.random.default_rng(0)
    for _trial in range(6):
        h, w = rng.integers(3, 40, 2)
        logits = rng.normal(0, 1, (1, h, w, 1)).astype(np.float32)
        logits[0, :2, :3] = 0.8  # a plateau: all its cells are peaks
        maps = {
            "heatmap": logits,
            "size": rng.normal(3, 2, (1, h, w, 2)).astype(np.float32),
            "offset": rng.uniform(0, 1, (1, h, w, 2)).astype(np.float32),
        }
        k = int(rng.integers(3, 200))
        decoded = centernet_postprocess(
            {key: tf.constant(v) for key, v in maps.items()}, max_detections=k, score_threshold=0.4, stride=4
        )
        n = int(decoded[NUM_DETECTIONS][0])
        boxes, scores = centernet_peaks(maps, k, 0.4, 4)
        np.testing.assert_array_equal(boxes, decoded[BOXES][0, :n].numpy())
        np.testing.assert_array_equal(scores, decoded[SCORES][0, :n].numpy())
        # NMS on these boxes (some of zero width: sizes clamp at 0) with tied, rounded scores.
        tied = np.round(rng.uniform(0, 1, n), 1).astype(np.float32)
        for iou, limit in ((0.5, n), (0.3, 5), (0.0, n)):
            expected = tf.image.non_max_suppression(
                boxes[:, [1, 0, 3, 2]], tied, max_output_size=limit, iou_threshold=iou
            ).numpy()
            np.testing.assert_array_equal(non_max_suppression(boxes, tied, iou, limit), expected)


@pytest.mark.parametrize("shape", [(180, 120), (50, 300), (40, 40)])
def test_crops_match_crop_characters_also_off_the_page(shape):
    from kuzushiji_tf.backends.onnx.postprocess import crop_characters as numpy_crops
    from kuzushiji_tf.backends.tf.page_recognizer import crop_characters
    from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
    from kuzushiji_tf.recognition.contract import CROP_OVERSAMPLE

    rng = np.random.default_rng(shape[0])
    image = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    centres = rng.uniform(-20, np.array(shape[::-1]) + 20, (40, 2))  # some off the page, past every edge
    sizes = rng.uniform(0, 60, (40, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    boxes[0] = [-500, -500, -450, -440]  # far off: zeros beyond the mirrored margin
    boxes[1] = [10, 10, 20, 20]
    for chosen in (boxes, boxes[1:2]):  # with padding, and a page that needs none
        expected = crop_characters(tf.constant(image), tf.constant(chosen), 16).numpy()
        ours = numpy_crops(image, chosen, 16, INFERENCE_CROP_FACTOR, CROP_OVERSAMPLE, chunk=7)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-3)


def test_jpeg_and_png_decoding_matches_tensorflow():
    from kuzushiji_tf.backends.onnx import images
    from kuzushiji_tf.recognition.contract import JPEG_MAGIC, PNG_MAGIC

    assert (images.JPEG_MAGIC, images.PNG_MAGIC) == (JPEG_MAGIC, PNG_MAGIC)
    rng = np.random.default_rng(0)
    colour, grey = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8), rng.integers(0, 256, (37, 29), dtype=np.uint8)
    pages = [
        REAL_PAGES[0].read_bytes(),
        cv2.imencode(".jpg", colour)[1].tobytes(),
        cv2.imencode(".jpg", grey)[1].tobytes(),
        cv2.imencode(".jpg", colour, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])[
            1
        ].tobytes(),
        cv2.imencode(".png", colour)[1].tobytes(),
        cv2.imencode(".png", grey)[1].tobytes(),
        cv2.imencode(".png", rng.integers(0, 256, (9, 7, 4), dtype=np.uint8))[1].tobytes(),
        cv2.imencode(".png", rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16))[1].tobytes(),
    ]
    for data in pages:
        expected = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False).numpy()
        np.testing.assert_array_equal(images.decode_page_image(data, 10**9, 10**9), expected)


def test_without_simplejpeg_opencv_decodes_a_few_levels_off(monkeypatch):
    from kuzushiji_tf.backends.onnx import images

    monkeypatch.setattr(images, "simplejpeg", None)
    data = REAL_PAGES[0].read_bytes()
    expected = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False).numpy()
    decoded = images.decode_page_image(data, 10**9, 10**9)
    assert decoded.shape == expected.shape  # the header read by Pillow
    assert np.abs(decoded.astype(int) - expected).max() <= 8  # accurate DCT, where TensorFlow's is the fast one
    with pytest.raises(PageRefused, match="Invalid JPEG data"):
        images.decode_page_image(b"\xff\xd8\xff\xe0 not really a jpeg", 10**9, 10**9)


# --- refusals ------------------------------------------------------------------------------------------


def test_bad_inputs_are_refused_with_the_saved_models_messages(models):
    saved_model, onnx = models
    truncated = REAL_PAGES[0].read_bytes()[:5000]
    for data in (b"", b"just some text, not an image", b"\xff\xd8\xff\xe0 not really a jpeg", truncated):
        with pytest.raises(PageRefused) as tf_refusal:
            saved_model([data])
        with pytest.raises(PageRefused) as onnx_refusal:
            onnx([data])
        assert str(onnx_refusal.value) == str(tf_refusal.value)
    with pytest.raises(PageRefused, match="not a JPEG or PNG"):  # one bad page refuses its batch
        onnx([page_bytes(), b"GIF89a"])


def test_size_limits_are_refused_before_decoding(exported, tmp_path):
    folder = tmp_path / "limits" / "1"
    shutil.copytree(exported[1], folder)
    options = json.loads((folder / "assets" / "recognizer.json").read_text())
    (folder / "assets" / "recognizer.json").write_text(
        json.dumps({**options, "max_pixels": 300_000, "max_image_bytes": 200_000})
    )
    model = load_page_model(folder)
    with pytest.raises(PageRefused, match=r"^image has more than 300000 pixels \(refused as a decompression bomb\)$"):
        model([page_bytes(".jpg", size=(600, 600))])
    # A PNG header that claims 100000 x 100000 pixels and no pixel data: refused by its header alone.
    bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100_000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    with pytest.raises(PageRefused, match="more than 300000 pixels"):
        model([bomb])
    with pytest.raises(PageRefused, match=r"^input is larger than 200000 bytes$"):
        model([b"\xff\xd8" + bytes(200_000)])


# --- tools/recognize.py ----------------------------------------------------------------------------------


def _close(a, b, path="") -> None:
    """Equal JSON values, numbers within 1 (pixels; scores agree far closer)."""
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= 1.0, path
    else:
        assert a == b, path


def test_recognize_tool_writes_the_same_files_with_either_model(exported, tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "real.jpg").write_bytes(REAL_PAGES[-1].read_bytes())
    (scans / "synthetic.png").write_bytes(page_bytes(".png", seed=6))
    outs = {}
    for name, model in (("tf", exported[0]), ("onnx", exported[1])):
        outs[name] = tmp_path / name
        assert recognize_tool.main([str(scans), "--out", str(outs[name]), "--model", str(model), "--quiet"]) == 0
    for page in ("real.jpg", "synthetic.png"):
        tf_json = json.loads((outs["tf"] / f"{page}.json").read_text(encoding="utf-8"))
        onnx_json = json.loads((outs["onnx"] / f"{page}.json").read_text(encoding="utf-8"))
        assert len(onnx_json["characters"]) > 0
        _close(onnx_json, tf_json)
        # In practice the files are the same bytes: the numbers agree far below the JSON's rounding.
        assert (outs["onnx"] / f"{page}.txt").read_text(encoding="utf-8") == (outs["tf"] / f"{page}.txt").read_text(
            encoding="utf-8"
        )


def test_the_server_on_the_onnx_backend_answers_as_the_saved_model_reads(exported):
    """`python -m kuzushiji_tf.serve --backend onnx`: /recognize gives the record of the SavedModel's
    characters for the same page."""
    from PIL import Image

    from kuzushiji_tf.formats import PageSource, json_record
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.page_text import page_record
    from serving_helpers import ServerProcess, http

    saved_model, onnx_dir = exported[0], exported[1]
    server = ServerProcess(onnx_dir, "--backend", "onnx")
    try:
        page = REAL_PAGES[0]
        status, _, body = http("GET", f"{server.url}/healthz")
        assert json.loads(body)["backend"] == "onnx"
        status, _, body = http(
            "POST",
            f"{server.url}/recognize?name={page.name}",
            page.read_bytes(),
            {"Content-Type": "application/octet-stream"},
        )
        assert status == 200
        tf_model = load_page_model(saved_model)
        # /recognize reads the page in context, with the export's settings.
        record = page_record(
            page.name,
            read_in_context(page_results(tf_model([page.read_bytes()])), tf_model.options),
            dict(tf_model.vocabulary),
            size=Image.open(page).size,
            cls_threshold=tf_model.options.cls_threshold,
        )
        expected = json.loads(json_record.render(record, PageSource.from_record(record)))
        assert len(expected["characters"]) > 0 and json.loads(body) == expected
    finally:
        server.stop()
