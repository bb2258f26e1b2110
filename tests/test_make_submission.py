"""tools/make_submission.py over a tiny Kaggle folder's test pages with a tiny exported recogniser."""

import pytest

from conftest import TINY_MAX_CHARS, TINY_VOCABULARY, make_kaggle_dir
from kuzushiji_tf.cli import make_submission as tool
from kuzushiji_tf.datasets.kaggle_submission import read_submission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    return tiny_recognizer


def test_every_test_page_gets_a_valid_row(model, tmp_path, capsys):
    data = make_kaggle_dir(tmp_path / "kaggle", test_ids=("test_a", "test_b", "test_c"))
    out = tmp_path / "submission.csv"
    assert (
        tool.main(["--model", str(model), "--data-dir", str(data), "--out", str(out), "--batch-size", "2", "--quiet"])
        == 0
    )
    rows = read_submission(out, expected_ids=["test_a", "test_b", "test_c"])
    assert list(rows) == ["test_a", "test_b", "test_c"]
    assert all(0 < len(preds) <= TINY_MAX_CHARS for preds in rows.values())
    assert all(code in {c for c, _ in TINY_VOCABULARY} for preds in rows.values() for code, _, _ in preds)
    assert all(0 <= x <= 120 and 0 <= y <= 180 for preds in rows.values() for _, x, y in preds)
    assert "3 pages" in capsys.readouterr().out


def test_corrupt_test_page_is_a_one_line_error_and_nothing_is_written(model, tmp_path, capsys):
    data = make_kaggle_dir(tmp_path / "kaggle", test_ids=("test_a", "test_b"))
    (data / "test_images" / "test_b.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "submission.csv"
    assert tool.main(["--model", str(model), "--data-dir", str(data), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make_submission: error:") and "test_b" in err
    assert not out.exists()
