"""Submission reader and writer: values, every validation error's message, round trip, atomic writes."""

import pytest

from kuzushiji_tf.datasets.kaggle_submission import (
    MAX_PREDICTIONS_PER_PAGE,
    Prediction,
    SubmissionError,
    format_labels,
    read_submission,
    write_submission,
)


def _write(tmp_path, text, name="sub.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _assert_message(error, path, line, image_id, problem):
    message = str(error)
    assert str(path) in message
    if line is None:
        assert error.line is None
    else:
        assert f"{path}:{line}:" in message and error.line == line
    assert f"image_id {image_id!r}" in message and error.image_id == image_id
    assert problem in message


def test_read_values_order_and_empty_pages(tmp_path):
    path = _write(tmp_path, "image_id,labels\np2,U+003F 3 3 U+304B 10.5 7\np1,\np3,\n")
    subs = read_submission(path)
    assert list(subs) == ["p2", "p1", "p3"]
    assert subs["p2"] == [Prediction("U+003F", 3.0, 3.0), Prediction("U+304B", 10.5, 7.0)]
    assert subs["p1"] == [] and subs["p3"] == []
    assert subs["p2"][1].code == "U+304B" and subs["p2"][1].x == 10.5


def test_read_with_expected_ids_accepts_any_order(tmp_path):
    path = _write(tmp_path, "image_id,labels\nb,\na,U+003F 1 2\n")
    assert list(read_submission(path, expected_ids=["a", "b"])) == ["b", "a"]


def _too_many(n):
    return " ".join(f"U+003F {i} {i}" for i in range(n))


@pytest.mark.parametrize(
    "rows, line, image_id, problem",
    [
        ("a,\nb,U+003F 3 3 U+304B 4\n", 3, "b", "group 2 'U+304B 4' is incomplete"),
        ("a,U+003f 3 3\n", 2, "a", "code 'U+003f' is not 'U+' and 4-5 upper-case hex digits"),
        ("a,U+3F 3 3\n", 2, "a", "code 'U+3F'"),
        ("a,\nb,\nc,U+003F 3 x\n", 4, "c", "group 1 'U+003F 3 x': Y 'x' is not a finite number"),
        ("a,U+003F nan 3\n", 2, "a", "X 'nan' is not a finite number"),
        (f"a,\nb,{_too_many(MAX_PREDICTIONS_PER_PAGE + 1)}\n", 3, "b", "1201 predictions, more than the 1200"),
        ("a,\nb,\na,U+003F 1 1\n", 4, "a", "duplicate image_id (first on line 2)"),
        ("a,U+003F 1 1,x\n", 2, "a", "expected 2 fields"),
    ],
)
def test_read_errors_name_file_line_id_problem(tmp_path, rows, line, image_id, problem):
    path = _write(tmp_path, "image_id,labels\n" + rows)
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert isinstance(info.value, ValueError)
    _assert_message(info.value, path, line, image_id, problem)


def test_exactly_1200_predictions_is_allowed(tmp_path):
    path = _write(tmp_path, f"image_id,labels\na,{_too_many(MAX_PREDICTIONS_PER_PAGE)}\n")
    assert len(read_submission(path)["a"]) == MAX_PREDICTIONS_PER_PAGE


def test_read_unexpected_id_names_its_line(tmp_path):
    path = _write(tmp_path, "image_id,labels\na,\nzz,\n")
    with pytest.raises(SubmissionError) as info:
        read_submission(path, expected_ids=["a"])
    _assert_message(info.value, path, 3, "zz", "unexpected image_id")


def test_read_missing_id_has_no_line(tmp_path):
    path = _write(tmp_path, "image_id,labels\na,\n")
    with pytest.raises(SubmissionError) as info:
        read_submission(path, expected_ids=["a", "b", "c"])
    _assert_message(info.value, path, None, "b", "missing expected image_id and 1 more")


def test_read_wrong_header(tmp_path):
    path = _write(tmp_path, "id,labels\na,\n")
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert str(info.value).startswith(f"{path}:1:") and "header must be 'image_id,labels'" in str(info.value)


def test_format_rounds_half_up_to_integers():
    assert format_labels([("U+003F", 2.5, 2.4), ("U+304B", 10.49, 11.5)]) == "U+003F 3 2 U+304B 10 12"
    assert format_labels([]) == ""


def test_write_round_trip_in_expected_order(tmp_path):
    path = tmp_path / "out.csv"
    preds = {"p1": [Prediction("U+003F", 3.4, 3.6), ("U+304B", 100, 200)], "p2": [], "p0": (("U+2000B", 0.5, 1.49),)}
    assert write_submission(path, preds, expected_ids=["p0", "p1", "p2"]) == path
    assert path.read_text(encoding="utf-8") == ("image_id,labels\np0,U+2000B 1 1\np1,U+003F 3 4 U+304B 100 200\np2,\n")
    back = read_submission(path, expected_ids=["p0", "p1", "p2"])
    assert list(back) == ["p0", "p1", "p2"]
    assert back["p1"] == [Prediction("U+003F", 3.0, 4.0), Prediction("U+304B", 100.0, 200.0)]
    assert back["p2"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


def test_write_without_expected_ids_keeps_mapping_order(tmp_path):
    path = write_submission(tmp_path / "s.csv", {"b": [], "a": [("U+003F", 1, 2)]})
    assert path.read_text(encoding="utf-8").splitlines() == ["image_id,labels", "b,", "a,U+003F 1 2"]


@pytest.mark.parametrize(
    "preds, expected, line, image_id, problem",
    [
        ({"a": [], "b": [("U+3f", 1, 1)]}, None, 3, "b", "code 'U+3f'"),
        ({"a": [("U+003F", float("nan"), 1)]}, None, 2, "a", "x nan is not a finite number"),
        ({"a": [("U+003F", 1, "7")]}, None, 2, "a", "y '7' is not a finite number"),
        ({"a": [("U+003F", 1)]}, None, 2, "a", "is not (code, x, y)"),
        ({"a": [("U+003F", 1, 1)] * (MAX_PREDICTIONS_PER_PAGE + 1)}, None, 2, "a", "1201 predictions"),
        ({"a": [], "b": []}, ["a"], None, "b", "unexpected image_id"),
        ({"a": []}, ["a", "b"], None, "b", "missing expected image_id"),
        ({"a": []}, ["a", "a"], None, "a", "duplicate image_id in the expected id list"),
        ({"x": [], "a": [("U+003F", 1, 1), ("bad", 1, 1)]}, ["x", "a"], 3, "a", "prediction 2: code 'bad'"),
    ],
)
def test_write_validates_before_writing(tmp_path, preds, expected, line, image_id, problem):
    path = tmp_path / "sub.csv"
    with pytest.raises(SubmissionError) as info:
        write_submission(path, preds, expected_ids=expected)
    _assert_message(info.value, path, line, image_id, problem)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = write_submission(tmp_path / "sub.csv", {"a": [("U+003F", 1, 1)]})
    before = path.read_text(encoding="utf-8")
    with pytest.raises(SubmissionError):
        write_submission(path, {"a": [("U+003F", float("inf"), 1)]})
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import os

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_submission(tmp_path / "sub.csv", {"a": []})
    assert list(tmp_path.iterdir()) == []
