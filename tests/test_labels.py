"""Labels strings and the light CSV readers: values, empty pages, and every error's message."""

import numpy as np
import pytest

from kuzushiji_tf.datasets.kaggle_labels import (
    LabelsError,
    LabelsFileError,
    iter_labels_csv,
    parse_prediction_labels,
    parse_truth_labels,
    read_truth_csv,
)


def test_truth_values_in_file_order():
    codes, boxes = parse_truth_labels("U+003F 1 1 10 10 U+304B 20 30 5 6")
    assert codes.tolist() == ["U+003F", "U+304B"]
    assert boxes.dtype == np.int64
    assert boxes.tolist() == [[1, 1, 10, 10], [20, 30, 5, 6]]


def test_five_hex_digit_code_is_valid():
    codes, _ = parse_truth_labels("U+2000B 0 0 1 1")
    assert codes.tolist() == ["U+2000B"]


@pytest.mark.parametrize("empty", ["", "   ", None, float("nan")])
def test_empty_labels_are_empty_pages(empty):
    codes, boxes = parse_truth_labels(empty)
    assert codes.shape == (0,) and boxes.shape == (0, 4)
    codes, points = parse_prediction_labels(empty)
    assert codes.shape == (0,) and points.shape == (0, 2)


@pytest.mark.parametrize(
    "text, group, fragment",
    [
        ("U+003F 1 1 10 10 U+304B 1 2", 2, "groups of 5"),
        ("U+3f 1 1 10 10", 1, "code 'U+3f'"),
        ("U+003F 1 1 10 10 U+03F 1 1 10 10", 2, "code 'U+03F'"),
        ("U+003F 1 1 10 10 U+1234567 1 1 10 10", 2, "code 'U+1234567'"),
        ("3F 1 1 10 10", 1, "code '3F'"),
        ("u+003F 1 1 10 10", 1, "code 'u+003F'"),
        ("U+003F 1 1.5 10 10", 1, "Y '1.5'"),
        ("U+003F 1 1 10 10 U+003F -1 1 10 10", 2, "X '-1'"),
        ("U+003F 1 1 10 x", 1, "H 'x'"),
        ("U+003F 1 1 +10 10", 1, "W '+10'"),
    ],
)
def test_truth_errors_name_group_and_value(text, group, fragment):
    with pytest.raises(LabelsError) as info:
        parse_truth_labels(text)
    assert info.value.group == group
    assert f"group {group}" in str(info.value)
    assert fragment in str(info.value)


def test_predictions_accept_integers_and_decimals():
    codes, points = parse_prediction_labels("U+003F 3 3 U+304B 10.25 7.5 U+304B 1e1 .5")
    assert codes.tolist() == ["U+003F", "U+304B", "U+304B"]
    assert points.dtype == np.float64
    assert points.tolist() == [[3.0, 3.0], [10.25, 7.5], [10.0, 0.5]]


@pytest.mark.parametrize(
    "text, group, fragment",
    [
        ("U+003F 3 3 U+304B 4", 2, "groups of 3"),
        ("U+003F 3 3 U+304b 4 4", 2, "code 'U+304b'"),
        ("U+003F abc 3", 1, "X 'abc'"),
        ("U+003F 3 3 U+003F 3 nan", 2, "Y 'nan'"),
        ("U+003F inf 3", 1, "X 'inf'"),
        ("U+003F 1_0 3", 1, "X '1_0'"),
        ("U+003F \uff11\uff12 3", 1, "X"),  # full-width digits: float() takes them, Kaggle would not
    ],
)
def test_prediction_errors_name_group_and_value(text, group, fragment):
    with pytest.raises(LabelsError) as info:
        parse_prediction_labels(text)
    assert info.value.group == group
    assert f"group {group}" in str(info.value) and fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_truth_csv_values_and_empty_page(tmp_path):
    path = _write(tmp_path, "train.csv", "image_id,labels\npage_a,U+003F 1 1 10 10\npage_b,\n\n")
    truth = read_truth_csv(path)
    assert list(truth) == ["page_a", "page_b"]
    assert truth["page_a"][1].tolist() == [[1, 1, 10, 10]]
    assert truth["page_b"][0].shape == (0,) and truth["page_b"][1].shape == (0, 4)


def test_iter_labels_csv_line_numbers_skip_blank_lines(tmp_path):
    path = _write(tmp_path, "t.csv", "image_id,labels\n\na,\nb,U+003F 1 1 2 2\n")
    assert list(iter_labels_csv(path)) == [(3, "a", ""), (4, "b", "U+003F 1 1 2 2")]


@pytest.mark.parametrize(
    "text, line, image_id, fragment",
    [
        ("image_id,labels\na,U+003F 1 1 10 10\nb,U+003F 1 1 10\n", 3, "b", "groups of 5"),
        ("image_id,labels\na,U+003F 1 1 10 10\nb,U+03F 1 1 10 10\n", 3, "b", "code 'U+03F'"),
        ("image_id,labels\na,\nb,\na,U+003F 1 1 1 1\n", 4, "a", "duplicate image_id (first on line 2)"),
        ("image_id,labels\na,U+003F 1 1 10 10,extra\n", 2, "a", "expected 2 fields"),
        ("Image,Labels\na,\n", 1, None, "header must be 'image_id,labels'"),
        ("image_id,labels\n,U+003F 1 1 10 10\n", 2, None, "empty image_id"),
    ],
)
def test_truth_csv_errors_name_file_line_id(tmp_path, text, line, image_id, fragment):
    path = _write(tmp_path, "train.csv", text)
    with pytest.raises(LabelsFileError) as info:
        read_truth_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:")
    assert fragment in message
    assert info.value.line == line and info.value.image_id == image_id
    if image_id is not None:
        assert f"image_id {image_id!r}" in message


def test_non_utf8_file_is_a_file_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"image_id,labels\na,\xff\xfe\n")
    with pytest.raises(LabelsFileError, match="not UTF-8"):
        read_truth_csv(path)
