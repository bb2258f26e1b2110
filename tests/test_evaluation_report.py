"""Per-class report and confusions under Kaggle's matching rule, on a hand-made page, and the CLI flag."""

import json

import numpy as np

from kuzushiji_tf.cli import evaluate as evaluate_tool
from kuzushiji_tf.evaluation.report import class_report, format_report

TRUTH = {
    "p1": (
        ["U+3042", "U+3044", "U+304B", "U+3044"],
        np.array([[0, 0, 10, 10], [20, 0, 10, 10], [40, 0, 10, 10], [60, 0, 10, 10]]),
    )
}
PRED = {
    "p1": [
        ("U+3042", 5, 5),  # あ correct
        ("U+304B", 25, 5),  # い box named か: a confusion, and an FP of か
        ("U+304A", 100, 100),  # お outside everything: FP
        ("U+3044", 65, 5),
    ]
}  # い correct; か box (40..50) missed entirely: FN, no confusion


def test_counts_rates_and_confusions():
    report = class_report(TRUTH, PRED)
    c = report["classes"]
    assert (c["U+3042"]["tp"], c["U+3042"]["fp"], c["U+3042"]["fn"]) == (1, 0, 0)
    assert (c["U+3044"]["tp"], c["U+3044"]["fn"], c["U+3044"]["support"]) == (1, 1, 2)
    assert c["U+3044"]["recall"] == 0.5 and c["U+3044"]["precision"] == 1.0
    assert (c["U+304B"]["tp"], c["U+304B"]["fp"], c["U+304B"]["fn"]) == (0, 1, 1)
    assert (c["U+304A"]["fp"], c["U+304A"]["support"], c["U+304A"]["precision"]) == (1, 0, 0.0)
    assert list(c)[0] == "U+3044"  # most frequent class first
    assert report["confusions"] == [
        {"truth": "U+3044", "truth_char": "い", "predicted": "U+304B", "predicted_char": "か", "count": 1}
    ]
    assert report["confused_boxes"] == 1
    assert "U+3044 い -> U+304B か  x1" in format_report(report)


def test_page_without_predictions_is_all_misses():
    report = class_report(TRUTH, {})
    assert sum(v["fn"] for v in report["classes"].values()) == 4 and report["confusions"] == []


def test_cli_writes_the_report(tmp_path, capsys):
    truth, pred = tmp_path / "truth.csv", tmp_path / "pred.csv"
    truth.write_text("image_id,labels\np1,U+3042 0 0 10 10 U+3044 20 0 10 10 U+304B 40 0 10 10 U+3044 60 0 10 10\n")
    pred.write_text("image_id,labels\np1,U+3042 5 5 U+304B 25 5 U+304A 100 100 U+3044 65 5\n")
    out = tmp_path / "report.json"
    assert evaluate_tool.main(["--truth", str(truth), "--pred", str(pred), "--report", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["confusions"][0]["count"] == 1
    text = capsys.readouterr().out
    assert "F1" in text and "confusions (truth -> predicted)" in text
