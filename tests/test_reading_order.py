"""Reading order: exact on synthetic pages (their label order is the reading order), close to CODH's own
order on the real sample, and right on hand-built layouts: slant, small kana, a header band, a spread."""

import csv

import numpy as np
import pytest

from conftest import SAMPLE_DIR
from kuzushiji_tf.datasets.kaggle_labels import read_truth_csv
from kuzushiji_tf.recognition.page_text import page_record
from kuzushiji_tf.recognition.reading_order import reading_layout, reading_order
from kuzushiji_tf.synthetic import generate_dataset


def _xyxy(xywh) -> np.ndarray:
    boxes = np.asarray(xywh, np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def _shuffled_order(boxes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Reading order of `boxes` found from a shuffled copy, as indices into the unshuffled `boxes`."""
    perm = np.random.default_rng(seed).permutation(len(boxes))
    order, _ = reading_order(boxes[perm])
    return perm[order]


def _grid(
    cols: int,
    rows: int,
    x_right: float = 1000,
    pitch: float = 70,
    w: float = 50,
    h: float = 50,
    y0: float = 100,
    slant: float = 0.0,
) -> np.ndarray:
    """Boxes in reading order: `cols` columns right to left, `rows` characters each, leaning by `slant` dx/dy."""
    out = []
    for c in range(cols):
        for r in range(rows):
            y = y0 + r * (h + 12)
            x = x_right - c * pitch - w + slant * (y - y0)
            out.append((x, y, x + w, y + h))
    return np.asarray(out)


@pytest.fixture(scope="module")
def synthetic_truth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate_dataset(out, 6, num_books=2, seed=7, page_height=1200, empty_fraction=0.0)
    return read_truth_csv(out / "train.csv")


def test_synthetic_pages_recover_the_label_order_exactly(synthetic_truth):
    assert len(synthetic_truth) == 6
    for image_id, (codes, xywh) in synthetic_truth.items():
        assert len(codes) > 20, image_id
        np.testing.assert_array_equal(
            _shuffled_order(_xyxy(xywh), seed=len(codes)), np.arange(len(codes)), err_msg=image_id
        )


def test_columns_are_numbered_in_reading_order(synthetic_truth):
    codes, xywh = next(iter(synthetic_truth.values()))
    order, column_of = reading_order(_xyxy(xywh))
    assert column_of[0] == 0
    assert np.all(np.diff(column_of[order]) >= 0) and np.all(np.diff(column_of[order]) <= 1)
    # A column's characters sit one below the other: centres descend inside each column.
    centres_y = (_xyxy(xywh)[:, 1] + _xyxy(xywh)[:, 3]) / 2
    for c in range(column_of.max() + 1):
        assert np.all(np.diff(centres_y[order][column_of[order] == c]) > 0)


def _codh_pages():
    pages = {}
    with open(SAMPLE_DIR / "100241706_coordinate_first5pages.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            x, y, w, h = (int(row[k]) for k in ("X", "Y", "Width", "Height"))
            pages.setdefault(row["Image"], []).append((row["Char ID"], (x, y, x + w, y + h)))
    return {image: np.asarray([box for _, box in sorted(rows)], np.float64) for image, rows in pages.items()}


def test_real_pages_agree_with_the_codh_reading_order():
    followed = total = 0
    exact_pages = 0
    for _image, boxes in _codh_pages().items():  # boxes in CODH Char ID order
        rank = np.empty(len(boxes), np.int64)
        rank[_shuffled_order(boxes, seed=1)] = np.arange(len(boxes))
        followed += int(np.sum(rank[1:] == rank[:-1] + 1))
        total += len(boxes) - 1
        exact_pages += bool(np.all(rank == np.arange(len(boxes))))
    # Measured: 453 of 459 CODH successions kept (98.7%); pages 1-3 exact. The misses are a small mark
    # inserted beside a column (00006_1, C0037) and a warichu split column under a centred head (00007_2).
    assert total == 459
    assert followed / total >= 0.98
    assert exact_pages >= 3


def test_empty_and_single_box():
    order, column_of = reading_order(np.zeros((0, 4)))
    assert order.shape == (0,) and column_of.shape == (0,) and order.dtype == np.int64
    order, column_of = reading_order([[5, 5, 20, 20]])
    assert order.tolist() == [0] and column_of.tolist() == [0]
    assert columns([], np.zeros((0, 4)), {}) == []


def test_single_column_with_gaps_and_small_kana():
    # A kanji, a small kana hugging the column's right edge, a blank of four characters, more kanji.
    boxes = np.asarray(
        [(100, 100, 160, 160), (140, 170, 160, 190), (102, 200, 158, 262), (100, 520, 160, 580), (118, 590, 140, 620)],
        np.float64,
    )
    np.testing.assert_array_equal(_shuffled_order(boxes), np.arange(5))
    assert reading_order(boxes)[1].tolist() == [0] * 5


def test_slanted_columns_stay_apart():
    # 20 characters a column, leaning 0.08 px per px: a column's foot is 1.4 column pitches off its head.
    boxes = _grid(cols=5, rows=20, x_right=1500, slant=0.08)
    order, column_of = reading_order(boxes)
    np.testing.assert_array_equal(order, np.arange(100))
    np.testing.assert_array_equal(column_of, np.repeat(np.arange(5), 20))


def test_header_band_is_read_before_the_body():
    header = _grid(cols=4, rows=2, x_right=1000, y0=50)  # 8 boxes, y 50..162
    body = _grid(cols=4, rows=8, x_right=1000, y0=400)  # below a blank of ~4 character heights
    boxes = np.concatenate([header, body])
    order, column_of = reading_order(boxes)
    np.testing.assert_array_equal(order, np.arange(len(boxes)))
    assert column_of.max() == 7  # 4 header columns and 4 body columns
    _, layout_columns, block_of = reading_layout(boxes)
    np.testing.assert_array_equal(layout_columns, column_of)
    np.testing.assert_array_equal(block_of, [0] * len(header) + [1] * len(body))  # header block, then body


def test_two_page_spread_reads_the_right_page_first():
    right = np.concatenate([_grid(cols=3, rows=2, x_right=2000, y0=50), _grid(cols=3, rows=6, x_right=2000, y0=400)])
    left = _grid(cols=3, rows=10, x_right=1000, y0=50)  # no header on this page
    boxes = np.concatenate([right, left])
    np.testing.assert_array_equal(_shuffled_order(boxes), np.arange(len(boxes)))


def columns(codes, boxes, translation) -> list[str]:
    """The page record's columns (what every output format writes) for characters with these boxes."""
    n = len(codes)
    result = {
        "codes": list(codes),
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "detection_scores": np.ones(n, np.float32),
        "class_probabilities": np.ones(n, np.float32),
    }
    return page_record("page", result, translation, cls_threshold=0.5)["columns"]


def test_the_page_record_gives_one_string_per_column():
    boxes = _grid(cols=2, rows=3)
    codes = ["U+3042", "U+3044", "U+3046", "U+304B", "U+304D", "U+25B2"]
    # The table wins over the code point; a code it lacks is written as its own code point.
    assert columns(codes, boxes, {"U+3042": "a"}) == ["aいう", "かき▲"]


def test_real_page_transcription_starts_with_the_title():
    translation = {"U+81EA": "自", "U+5E8F": "序"}
    codes, xywh = read_truth_csv(SAMPLE_DIR / "train.csv")["100241706_00004_2"]
    lines = columns(list(codes), _xyxy(xywh), translation)
    assert lines[0] == "自序" and len(lines) == 7 and sum(map(len, lines)) == 67


def test_any_boxes_give_a_permutation_and_ascending_columns():
    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(1, 60))
        corner = rng.uniform(0, 1000, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(0, 120 if trial % 5 else 0, (n, 2))], 1)  # some 0-size
        order, column_of = reading_order(boxes)
        assert sorted(order.tolist()) == list(range(n))
        assert np.all(np.diff(column_of[order]) >= 0) and column_of[order][0] == 0
    with pytest.raises(ValueError, match="1 rows with NaN or inf"):
        reading_order([[0, 0, np.nan, 10], [0, 20, 10, 30]])
