"""Pages drawn with their predictions: the colours land on the boxes the competition's matching says,
glyphs are drawn, big pages are downscaled, and tools/visualize.py works from a submission CSV."""

import numpy as np
import pytest
from PIL import Image

from kuzushiji_tf.cli import visualize
from kuzushiji_tf.visualization import CORRECT, MISSED, PREDICTED, WRONG, draw_page, page_colours, save_png

PAPER = (235, 230, 215)
# Truth, xywh: A is found with its label, B is found with the wrong label, C is not found.
TRUTH_CODES = ["U+3042", "U+3044", "U+304B"]
TRUTH_XYWH = np.array([[300, 50, 60, 60], [300, 200, 60, 60], [100, 50, 60, 60]])
PRED_CODES = ["U+3042", "U+3046"]
PRED_BOXES = np.array([[300, 50, 360, 110], [310, 210, 350, 250]], np.float64)  # A exactly; inside B


def _page(width=420, height=320):
    return np.full((height, width, 3), PAPER, np.uint8)


def _near(image, x, y, colour, radius=1) -> bool:
    """True when `colour` is at (x, y) or within `radius` pixels of it."""
    patch = np.asarray(image)[y - radius : y + radius + 1, x - radius : x + radius + 1]
    return bool(np.all(patch == colour, axis=-1).any())


def test_page_colours_follow_the_competition_matching():
    centres = (PRED_BOXES[:, :2] + PRED_BOXES[:, 2:]) / 2
    colours, missed = page_colours(PRED_CODES, centres, TRUTH_CODES, TRUTH_XYWH)
    assert colours == [CORRECT, WRONG]
    assert missed.tolist() == [False, True, True]


def test_correct_wrong_and_missed_boxes_have_their_colours(tmp_path):
    page = draw_page(_page(), PRED_CODES, pred_boxes=PRED_BOXES, truth=(TRUTH_CODES, TRUTH_XYWH))
    assert page.size == (420, 320)  # small pages are not upscaled
    path = save_png(page, tmp_path / "out" / "page.png")
    drawn = Image.open(path)
    assert drawn.format == "PNG" and drawn.mode == "RGB"
    pixels = np.asarray(drawn)
    # Left edges, half way down: outlines are drawn inside their boxes (2 px at this size).
    assert _near(pixels, 300, 80, CORRECT)
    assert _near(pixels, 300, 230, MISSED) and _near(pixels, 310, 230, WRONG)  # B: missed truth, wrong guess
    assert _near(pixels, 100, 80, MISSED)
    assert not _near(pixels, 300, 80, MISSED, radius=0)  # A was found: its truth box is not drawn
    # Predicted glyphs go right of their box, in its colour: あ (correct), う (wrong); the true glyphs of
    # missed boxes go left of them: い beside B, か beside C.
    assert np.all(pixels[45:115, 365:420] == CORRECT, axis=-1).sum() > 30
    assert np.all(pixels[200:260, 355:420] == WRONG, axis=-1).sum() > 30
    assert np.all(pixels[200:260, 230:298] == MISSED, axis=-1).sum() > 30
    assert np.all(pixels[45:115, 30:98] == MISSED, axis=-1).sum() > 30
    assert not np.any(np.all(pixels[:, 365:] == MISSED, axis=-1))
    untouched = pixels[280:, :60]
    assert np.all(untouched == PAPER)


def test_points_without_truth_are_discs_in_one_colour():
    page = np.asarray(draw_page(_page(), ["U+3042"], pred_xy=np.array([[200.0, 160.0]])))
    radius = max(3, 0.012 * 420)  # POINT_RADIUS of the longer side
    assert _near(page, round(200 - radius) + 1, 160, PREDICTED)
    assert _near(page, 200, round(160 - radius) + 1, PREDICTED)
    assert np.all(page[160, 200] == PAPER)  # a ring: the point itself stays visible
    assert not np.any(np.all(page == CORRECT, axis=-1)) and not np.any(np.all(page == WRONG, axis=-1))


def test_large_pages_are_downscaled_to_max_side():
    boxes = np.array([[1000, 400, 1200, 600]], np.float64)
    page = draw_page(_page(3200, 2000), ["U+3042"], pred_boxes=boxes, max_side=800)
    assert page.size == (800, 500)
    assert _near(np.asarray(page), 250, 125, PREDICTED)  # the box's left edge, scaled by 1/4


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        draw_page(_page(), ["U+3042"])
    with pytest.raises(ValueError, match="1 codes but 2"):
        draw_page(_page(), ["U+3042"], pred_xy=np.zeros((2, 2)))


def _kaggle_files(tmp_path):
    Image.fromarray(_page()).save(tmp_path / "page_001.jpg", quality=95)
    labels = " ".join(f"{c} {x} {y} {w} {h}" for c, (x, y, w, h) in zip(TRUTH_CODES, TRUTH_XYWH))
    (tmp_path / "train.csv").write_text(f"image_id,labels\npage_001,{labels}\n")
    (tmp_path / "sub.csv").write_text("image_id,labels\npage_001,U+3042 330 80 U+3046 330 230\n")
    return tmp_path


def test_tool_draws_a_submission_against_the_truth(tmp_path, capsys):
    d = _kaggle_files(tmp_path)
    code = visualize.main(
        [
            "--pred",
            str(d / "sub.csv"),
            "--image",
            str(d / "page_001.jpg"),
            "--truth",
            str(d / "train.csv"),
            "--out",
            str(d / "vis.png"),
            "--max-side",
            "210",
        ]
    )
    assert code == 0
    assert "2 predictions: 1 correct, 1 wrong, 2 missed of 3" in capsys.readouterr().out
    assert Image.open(d / "vis.png").size == (210, 160)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"--image": "missing.jpg"}, "image file is missing"),
        ({"--truth": "nope.csv"}, "nope.csv"),
        ({"--pred": "other.csv"}, "no row for image_id page_001"),
        ({"--max-side": "0"}, "--max-side must be >= 1"),
    ],
)
def test_tool_errors_are_one_line(tmp_path, capsys, change, message):
    d = _kaggle_files(tmp_path)
    (d / "other.csv").write_text("image_id,labels\nanother_page,\n")
    args = {"--pred": "sub.csv", "--image": "page_001.jpg", "--truth": "train.csv", "--out": "vis.png"}
    args.update(change)
    argv = [v for k, p in args.items() for v in (k, p if k == "--max-side" else str(d / p))]
    assert visualize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("visualize: error:") and message in err and err.count("\n") == 1


@pytest.mark.slow
def test_tool_draws_a_model_s_boxes(tmp_path, capsys):
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
    model = export_page_recognizer(
        detector,
        classifier,
        [("U+3042", "あ"), ("U+3044", "い"), ("U+304B", "か")],
        tmp_path / "kuzushiji_page" / "1",
        RecognizerOptions(short_side=128, cls_threshold=0.0, max_chars=16),
    )
    image = _page(200, 300)
    image[100:140, 80:110] = 30
    Image.fromarray(image).save(tmp_path / "page.png")
    assert (
        visualize.main(
            ["--model", str(model), "--image", str(tmp_path / "page.png"), "--out", str(tmp_path / "vis.png")]
        )
        == 0
    )
    assert "16 predictions" in capsys.readouterr().out
    drawn = np.asarray(Image.open(tmp_path / "vis.png"))
    assert drawn.shape == (300, 200, 3) and np.all(drawn == PREDICTED, axis=-1).sum() > 100
