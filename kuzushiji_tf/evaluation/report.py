"""Where the errors are: per-class precision and recall, and the most frequent confusions (truth ->
predicted), under the same Kaggle matching rule as the score (`evaluation.match_page`).

A confusion is a truth box that no prediction of its label took, but that a prediction of another label
would have taken with labels ignored: the detector found the character, the classifier misnamed it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from kuzushiji_tf.evaluation.metric import PagePredictions, PageTruth, match_page, prediction_arrays
from kuzushiji_tf.structures import code_to_char


def _rates(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "support": tp + fn, "precision": precision, "recall": recall}


def class_report(
    truth: Mapping[str, PageTruth],
    predictions: Mapping[str, PagePredictions],
    translation: Mapping[str, str] | None = None,
    top: int = 20,
) -> dict:
    """Per-class counts and rates, and the `top` confusions, over the truth's pages.

    Returns:
        {"classes": {code: {char, tp, fp, fn, support, precision, recall}}, sorted by support then code;
         "confusions": [{truth, truth_char, predicted, predicted_char, count}], most frequent first;
         "confused_boxes": total truth boxes detected but misnamed}.
    """
    tp, fp, fn, confusions = Counter(), Counter(), Counter(), Counter()
    empty = (np.zeros(0, dtype=str), np.zeros((0, 2)))
    for image_id, (codes, boxes) in truth.items():
        pred_codes, points = prediction_arrays(predictions[image_id]) if image_id in predictions else empty
        codes = np.asarray(codes, dtype=str)
        taken = match_page(codes, boxes, pred_codes, points)
        used = np.zeros(len(pred_codes), dtype=bool)
        used[taken[taken >= 0]] = True
        tp.update(codes[taken >= 0].tolist())
        fn.update(codes[taken < 0].tolist())
        fp.update(pred_codes[~used].tolist())
        # Which misses were misnamed detections: match the misses against the unused predictions only.
        missed = np.nonzero(taken < 0)[0]
        spare = np.nonzero(~used)[0]
        if len(missed) and len(spare):
            found = match_page(
                codes[missed],
                np.asarray(boxes).reshape(-1, 4)[missed],
                pred_codes[spare],
                points[spare],
                ignore_labels=True,
            )
            for box, j in zip(missed, found):
                if j >= 0:
                    confusions[(codes[box], pred_codes[spare][j])] += 1
    name = (lambda code: translation.get(code, code_to_char(code))) if translation else code_to_char
    classes = {
        code: {"char": name(code), **_rates(tp[code], fp[code], fn[code])}
        for code in sorted(set(tp) | set(fp) | set(fn), key=lambda c: (-(tp[c] + fn[c]), c))
    }
    top_pairs = sorted(confusions.items(), key=lambda item: (-item[1], item[0]))[:top]
    return {
        "classes": classes,
        "confusions": [
            {"truth": t, "truth_char": name(t), "predicted": p, "predicted_char": name(p), "count": n}
            for (t, p), n in top_pairs
        ],
        "confused_boxes": int(sum(confusions.values())),
    }


def format_report(report: dict, rows: int = 10) -> str:
    """A short text table: the most frequent classes' precision/recall, then the top confusions."""
    lines = [f"{'class':<10}{'char':<6}{'support':>8}{'precision':>11}{'recall':>8}"]
    for code, c in list(report["classes"].items())[:rows]:
        lines.append(f"{code:<10}{c['char']:<6}{c['support']:>8}{c['precision']:>11.3f}{c['recall']:>8.3f}")
    lines.append(f"confusions (truth -> predicted), {report['confused_boxes']} boxes detected but misnamed:")
    for c in report["confusions"][:rows]:
        lines.append(f"  {c['truth']} {c['truth_char']} -> {c['predicted']} {c['predicted_char']}  x{c['count']}")
    return "\n".join(lines)
