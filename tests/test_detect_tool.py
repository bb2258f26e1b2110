"""tools/detect.py end to end on a tiny Kaggle folder with an untrained tiny detector: files and errors."""

import pytest

from kuzushiji_tf.cli import detect as detect_tool
from kuzushiji_tf.datasets.kaggle_labels import read_truth_csv
from kuzushiji_tf.datasets.kaggle_submission import read_submission
from kuzushiji_tf.detection.detect_pages import UNKNOWN_CODE, select_pages
from kuzushiji_tf.models.centernet import build_centernet


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "model.keras"
    build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16, heatmap_prior=0.5).save(path)
    return path.parent


def test_val_split_writes_predictions_and_matching_truth(kaggle_dir, tiny_model, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    code = detect_tool.main(
        [
            "--model",
            str(tiny_model),
            "--data-dir",
            str(kaggle_dir),
            "--split",
            "val",
            "--num-folds",
            "2",
            "--out",
            str(out),
            "--short-side",
            "64",
            "--quiet",
            "--score-threshold",
            "0.4",
        ]
    )
    assert code == 0
    val = select_pages(kaggle_dir, "val", num_folds=2)
    assert val and len(val) < 7
    predictions = read_submission(out)
    assert list(predictions) == [p.image_id for p in val]
    # heatmap_prior 0.5 puts every cell at the threshold: untrained, the model reports peaks.
    assert all(code == UNKNOWN_CODE for pred in predictions.values() for code, _, _ in pred)
    truth = read_truth_csv(out.with_suffix(".truth.csv"))
    assert list(truth) == [p.image_id for p in val]
    assert [len(codes) for codes, _ in truth.values()] == [len(p.chars) for p in val]
    assert "detection-only TP" in capsys.readouterr().out


def test_test_split_has_no_truth(kaggle_dir, tiny_model, tmp_path):
    out = tmp_path / "test.csv"
    assert (
        detect_tool.main(
            [
                "--model",
                str(tiny_model),
                "--data-dir",
                str(kaggle_dir),
                "--split",
                "test",
                "--out",
                str(out),
                "--short-side",
                "64",
                "--quiet",
            ]
        )
        == 0
    )
    assert list(read_submission(out)) == ["test_0001", "test_0002"]
    assert not out.with_suffix(".truth.csv").exists()


def test_missing_model_is_a_one_line_error(kaggle_dir, tmp_path, capsys):
    code = detect_tool.main(
        [
            "--model",
            str(tmp_path / "nope"),
            "--data-dir",
            str(kaggle_dir),
            "--split",
            "all",
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("detect: error:") and "model.keras" in err and "\n" == err[-1] and err.count("\n") == 1
