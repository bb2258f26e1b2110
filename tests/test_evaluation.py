"""The competition metric on hand-made pages with known counts, a brute-force cross-check, and the CLI."""

import json

import numpy as np
import pytest

from kuzushiji_tf.cli import evaluate as evaluate_tool
from kuzushiji_tf.datasets.kaggle_labels import parse_prediction_labels, parse_truth_labels
from kuzushiji_tf.evaluation.metric import (
    Score,
    UnknownImageIdsError,
    count_page,
    evaluate,
    match_page,
    truth_from_pages,
)
from kuzushiji_tf.structures import Char, Page


def page(truth: str, pred: str, ignore_labels=False):
    """(tp, fp, fn) of one page given as Kaggle label strings."""
    return count_page(*parse_truth_labels(truth), *parse_prediction_labels(pred), ignore_labels=ignore_labels)


def test_reference_example():
    assert page("U+003F 1 1 10 10", "U+003F 3 3") == (1, 0, 0)


@pytest.mark.parametrize("point", ["1 5", "11 5", "5 1", "5 11", "1 1", "11 11"])
def test_box_edges_are_misses(point):
    # Box U+003F 1 1 10 10 spans 1 < x < 11 and 1 < y < 11, strictly.
    assert page("U+003F 1 1 10 10", f"U+003F {point}") == (0, 1, 1)


@pytest.mark.parametrize("point", ["1.001 5", "10.999 5", "5 1.5", "5 10.5"])
def test_just_inside_the_edges_hits(point):
    assert page("U+003F 1 1 10 10", f"U+003F {point}") == (1, 0, 0)


def test_first_prediction_in_submission_order_is_used():
    taken = match_page(
        *parse_truth_labels("U+003F 0 0 10 10"), *parse_prediction_labels("U+003F 50 50 U+003F 2 2 U+003F 3 3")
    )
    assert taken.tolist() == [1]
    assert page("U+003F 0 0 10 10", "U+003F 50 50 U+003F 2 2 U+003F 3 3") == (1, 2, 0)


def test_overlapping_boxes_first_truth_box_takes_the_point():
    # Both boxes contain (5, 5); the first box in truth order takes it, the second is a FN.
    truth = "U+003F 0 0 10 10 U+003F 2 2 10 10"
    assert match_page(*parse_truth_labels(truth), *parse_prediction_labels("U+003F 5 5")).tolist() == [0, -1]
    assert page(truth, "U+003F 5 5") == (1, 0, 1)
    # A greedy walk, not an optimal assignment: box 0 takes (5, 5), the first point inside it, although
    # (1, 1) would also do; box 1 then finds (5, 5) used and (1, 1) outside it. Optimal would give 2 TP.
    assert match_page(*parse_truth_labels(truth), *parse_prediction_labels("U+003F 5 5 U+003F 1 1")).tolist() == [0, -1]
    assert page(truth, "U+003F 5 5 U+003F 1 1") == (1, 1, 1)


def test_repeated_labels_each_need_their_own_point():
    truth = "U+304B 0 0 10 10 U+304B 0 20 10 10 U+304B 0 40 10 10"
    assert page(truth, "U+304B 5 5 U+304B 5 25") == (2, 0, 1)
    assert page(truth, "U+304B 5 5 U+304B 5 6 U+304B 5 45") == (2, 1, 1)
    assert page(truth, "U+304B 5 45 U+304B 5 25 U+304B 5 5") == (3, 0, 0)


def test_empty_truth_all_predictions_are_false_positives():
    assert page("", "U+003F 3 3 U+304B 4 4") == (0, 2, 0)
    result = evaluate({"p": parse_truth_labels("")}, {"p": parse_prediction_labels("U+003F 3 3 U+304B 4 4")})
    assert result.labelled == Score(tp=0, fp=2, fn=0, precision=0.0, recall=0.0, f1=0.0)


def test_empty_prediction_all_boxes_are_false_negatives():
    assert page("U+003F 1 1 10 10 U+304B 20 20 5 5", "") == (0, 0, 2)
    result = evaluate({"p": parse_truth_labels("U+003F 1 1 10 10")}, {"p": []})
    assert result.labelled == Score(tp=0, fp=0, fn=1, precision=0.0, recall=0.0, f1=0.0)


def test_nothing_at_all_scores_zero():
    result = evaluate({"p": parse_truth_labels("")}, {"p": []})
    assert result.labelled == Score(0, 0, 0, 0.0, 0.0, 0.0)


def test_wrong_label_inside_box_is_fp_and_fn_but_a_detection():
    assert page("U+003F 1 1 10 10", "U+304B 3 3") == (0, 1, 1)
    assert page("U+003F 1 1 10 10", "U+304B 3 3", ignore_labels=True) == (1, 0, 0)


def test_pages_missing_from_predictions_are_false_negatives():
    truth = {"a": parse_truth_labels("U+003F 1 1 10 10"), "b": parse_truth_labels("U+003F 1 1 10 10 U+3042 0 0 5 5")}
    result = evaluate(truth, {"a": [("U+003F", 3, 3)]})
    assert (result.labelled.tp, result.labelled.fp, result.labelled.fn) == (1, 0, 2)
    assert result.pages == 2


def test_multi_page_sums_are_micro_not_page_averages():
    truth = {
        "small": parse_truth_labels("U+003F 0 0 10 10"),
        "big": parse_truth_labels(" ".join(f"U+3042 {20 * i} 0 10 10" for i in range(9))),
    }
    preds = {"small": [("U+003F", 5, 5)], "big": [("U+3042", 5, 5), ("U+3042", 999, 999)]}
    score = evaluate(truth, preds).labelled
    assert (score.tp, score.fp, score.fn) == (2, 1, 8)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 10)
    assert score.f1 == pytest.approx(2 * (2 / 3) * 0.2 / (2 / 3 + 0.2))  # 0.3077; the page mean would be 0.59


def test_detection_only_differs_from_labelled():
    truth = {"p": parse_truth_labels("U+003F 0 0 10 10 U+304B 20 0 10 10 U+3042 40 0 10 10")}
    preds = {"p": parse_prediction_labels("U+003F 5 5 U+3042 25 5 U+3042 99 99")}
    result = evaluate(truth, preds)
    assert result.labelled == Score.from_counts(1, 2, 2)
    assert result.detection == Score.from_counts(2, 1, 1)
    assert result.detection.f1 == pytest.approx(2 / 3) and result.labelled.f1 == pytest.approx(1 / 3)


def test_unknown_prediction_ids_raise_ignore_or_count():
    truth = {"a": parse_truth_labels("U+003F 1 1 10 10")}
    preds = {"a": [("U+003F", 3, 3)], "zz": [("U+003F", 3, 3), ("U+003F", 4, 4)]}
    with pytest.raises(UnknownImageIdsError, match="'zz'"):
        evaluate(truth, preds)
    assert evaluate(truth, preds, unknown_ids="ignore").labelled == Score.from_counts(1, 0, 0)
    assert evaluate(truth, preds, unknown_ids="fp").labelled == Score.from_counts(1, 2, 0)
    with pytest.raises(ValueError, match="unknown_ids"):
        evaluate(truth, preds, unknown_ids="skip")


def test_truth_from_pages_scores_like_the_csv():
    pages = [Page("p", chars=(Char("U+003F", (1.0, 1.0, 11.0, 11.0)),)), Page("q")]
    truth = truth_from_pages(pages)
    assert evaluate(truth, {"p": [("U+003F", 3, 3)], "q": []}).labelled == Score.from_counts(1, 0, 0)
    assert page("U+003F 1 1 10 10", "U+003F 11 3") == count_page(*truth["p"], ["U+003F"], np.array([[11.0, 3.0]]))


def _brute_force(truth_codes, boxes, pred_codes, points, ignore_labels):
    """The rule as written in docs/recipe.md, one loop per box, for cross-checking the numpy version."""
    used = [False] * len(pred_codes)
    tp = fn = 0
    for code, (x0, y0, w, h) in zip(truth_codes, boxes):
        for j, (pc, (x, y)) in enumerate(zip(pred_codes, points)):
            if not used[j] and (ignore_labels or pc == code) and x0 < x < x0 + w and y0 < y < y0 + h:
                used[j] = True
                tp += 1
                break
        else:
            fn += 1
    return tp, used.count(False), fn


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force_on_random_pages(seed):
    # Sparse to dense pages, so both the uncontested (vectorised) and contested (walked) paths run.
    rng = np.random.default_rng(seed)
    n, m, side = rng.integers(0, 40), rng.integers(0, 60), rng.choice([50, 200, 800])
    codes = np.array(["U+3042", "U+304B", "U+003F"])
    boxes = np.concatenate([rng.integers(0, side, (n, 2)), rng.integers(1, 30, (n, 2))], axis=1)
    points = rng.integers(0, side + 30, (m, 2)).astype(float) + rng.choice([0.0, 0.5], (m, 2))
    truth_codes, pred_codes = rng.choice(codes, n), rng.choice(codes, m)
    expected = [_brute_force(truth_codes, boxes, pred_codes, points, ignore) for ignore in (False, True)]
    for ignore, want in zip((False, True), expected):
        assert count_page(truth_codes, boxes, pred_codes, points, ignore_labels=ignore) == want
    result = evaluate({"p": (truth_codes, boxes)}, {"p": (pred_codes, points)})
    assert [(s.tp, s.fp, s.fn) for s in (result.labelled, result.detection)] == expected


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("image_id,labels\n" + "".join(f"{i},{labels}\n" for i, labels in rows), encoding="utf-8")
    return path


def test_cli_json(tmp_path, capsys):
    truth = _csv(tmp_path, "train.csv", [("a", "U+003F 1 1 10 10 U+304B 20 20 10 10"), ("b", "")])
    pred = _csv(tmp_path, "sub.csv", [("a", "U+003F 3 3 U+003F 25 25"), ("b", "U+3042 1 1")])
    assert evaluate_tool.main(["--truth", str(truth), "--pred", str(pred), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pages"] == 2
    assert {k: out["labelled"][k] for k in ("tp", "fp", "fn")} == {"tp": 1, "fp": 2, "fn": 1}
    assert {k: out["detection"][k] for k in ("tp", "fp", "fn")} == {"tp": 2, "fp": 1, "fn": 0}
    assert out["labelled"]["f1"] == pytest.approx(0.4)


def test_cli_text(tmp_path, capsys):
    truth = _csv(tmp_path, "train.csv", [("a", "U+003F 1 1 10 10")])
    pred = _csv(tmp_path, "sub.csv", [("a", "U+003F 3 3")])
    assert evaluate_tool.main(["--truth", str(truth), "--pred", str(pred)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("labelled") and "TP 1  FP 0  FN 0" in lines[1] and "F1 1.0000" in lines[1]
    assert lines[2].startswith("detection-only") and "F1 1.0000" in lines[2]


@pytest.mark.parametrize(
    "pred_rows, fragments",
    [
        ([("a", "U+003F 3")], ["sub.csv:2:", "image_id 'a'", "groups of 3"]),
        ([("a", ""), ("zz", "")], ["sub.csv", "'zz'", "not in the truth"]),
    ],
)
def test_cli_user_errors_one_line_exit_2(tmp_path, capsys, pred_rows, fragments):
    truth = _csv(tmp_path, "train.csv", [("a", "U+003F 1 1 10 10")])
    pred = _csv(tmp_path, "sub.csv", pred_rows)
    assert evaluate_tool.main(["--truth", str(truth), "--pred", str(pred)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert all(f in err for f in fragments)


def test_cli_missing_file_exit_2(tmp_path, capsys):
    assert evaluate_tool.main(["--truth", str(tmp_path / "none.csv"), "--pred", str(tmp_path / "x.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
