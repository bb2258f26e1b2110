"""The competition's micro F1 over points, with Kaggle's exact matching rule, and its detection-only twin.

Rule (docs/recipe.md "The metric"): per page, walk truth boxes in order; a box takes the FIRST prediction, in
submission order, that has its label, lies strictly inside it (X < x < X+W, Y < y < Y+H) and is unused.
Unused predictions are false positives, unmatched boxes false negatives; counts are summed over pages
before precision and recall (micro), so big pages weigh more. Plain numpy: no Kaggle file parsing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.structures import Page

# Truth of one page: codes [N] and int boxes_xywh [N, 4] (as kaggle.labels.parse_truth_labels returns).
PageTruth = tuple[Sequence[str], np.ndarray]
# Predictions of one page: (codes [M], points_xy [M, 2]) arrays, or a sequence of (code, x, y) triples
# such as kaggle.submission.Prediction.
PagePredictions = tuple[Sequence[str], np.ndarray] | Iterable[tuple[str, float, float]]

UNKNOWN_ID_POLICIES = ("raise", "ignore", "fp")


class UnknownImageIdsError(KuzushijiError, ValueError):
    """Predictions name pages that the truth lacks: usually the wrong truth file or a fold mix-up."""


@dataclass(frozen=True)
class Score:
    """Micro counts and the rates derived from them; a rate is 0.0 when its denominator is 0."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Score:
        tp, fp, fn = int(tp), int(fp), int(fn)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        # Kaggle's rule: F1 is 0 when nothing was predicted or nothing was there; p + r > 0 iff tp > 0.
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(tp, fp, fn, precision, recall, f1)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Both scores over the same pages: `labelled` is the competition metric, `detection` ignores labels."""

    labelled: Score
    detection: Score
    pages: int

    def as_dict(self) -> dict:
        return {"pages": self.pages, "labelled": self.labelled.as_dict(), "detection": self.detection.as_dict()}


def _inside_pairs(truth_xywh: np.ndarray, pred_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box, prediction) index pairs with the point strictly inside the box, boxes then points ascending."""
    boxes = np.asarray(truth_xywh, dtype=np.float64).reshape(-1, 4)
    points = np.asarray(pred_xy, dtype=np.float64).reshape(-1, 2)
    x, y = points[None, :, 0], points[None, :, 1]  # [1, M]
    x0, y0 = boxes[:, 0:1], boxes[:, 1:2]  # [N, 1]
    # Strict inequalities: a point on an edge is a miss (docs/recipe.md).
    inside = (x0 < x) & (x < x0 + boxes[:, 2:3]) & (y0 < y) & (y < y0 + boxes[:, 3:4])  # [N, M]
    return np.nonzero(inside)  # row-major: this order is the rule's order


def _greedy(num_boxes: int, num_points: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Kaggle's walk over candidate pairs (row-major); int64 [num_boxes] prediction index or -1.

    Only points that several boxes could take make the walk order-dependent. A box whose candidates are
    all its own takes its first one, vectorised; the remaining boxes are walked in truth order in Python.
    """
    taken = np.full(num_boxes, -1, dtype=np.int64)
    if len(rows) == 0:
        return taken
    shared = np.bincount(cols, minlength=num_points)[cols] > 1  # [pairs]
    contested = np.zeros(num_boxes, dtype=bool)
    contested[rows[shared]] = True
    own = ~contested[rows]
    boxes, first = np.unique(rows[own], return_index=True)
    taken[boxes] = cols[own][first]
    unused = np.ones(num_points, dtype=bool)  # contested boxes never see the points taken above
    done = set()
    for i, j in zip(rows[~own].tolist(), cols[~own].tolist()):
        if i not in done and unused[j]:
            taken[i] = j
            unused[j] = False
            done.add(i)
    return taken


def _check_lengths(truth_codes, truth_xywh, pred_codes, pred_xy) -> None:
    n, m = np.asarray(truth_xywh).reshape(-1, 4).shape[0], np.asarray(pred_xy).reshape(-1, 2).shape[0]
    if n != len(truth_codes) or m != len(pred_codes):
        raise ValueError(
            f"codes and coordinates differ in length: truth {len(truth_codes)} vs {n}, "
            f"predictions {len(pred_codes)} vs {m}"
        )


def match_page(
    truth_codes: Sequence[str],
    truth_xywh: np.ndarray,
    pred_codes: Sequence[str],
    pred_xy: np.ndarray,
    ignore_labels: bool = False,
) -> np.ndarray:
    """Match one page's predictions to its truth boxes with Kaggle's rule.

    Args:
        truth_codes: [N] labels; truth_xywh: [N, 4] top-left corner and size, pixels.
        pred_codes: [M] labels; pred_xy: [M, 2] points, pixels, in submission order.
        ignore_labels: True for detection-only matching.
    Returns:
        int64 [N]: the index of the prediction each box took, or -1 for a false negative.
    """
    _check_lengths(truth_codes, truth_xywh, pred_codes, pred_xy)
    rows, cols = _inside_pairs(truth_xywh, pred_xy)
    if not ignore_labels and len(rows):
        same = np.asarray(truth_codes, dtype=str)[rows] == np.asarray(pred_codes, dtype=str)[cols]
        rows, cols = rows[same], cols[same]
    return _greedy(len(truth_codes), len(pred_codes), rows, cols)


def count_page(
    truth_codes: Sequence[str],
    truth_xywh: np.ndarray,
    pred_codes: Sequence[str],
    pred_xy: np.ndarray,
    ignore_labels: bool = False,
) -> tuple[int, int, int]:
    """(tp, fp, fn) of one page; see `match_page` for the arguments."""
    taken = match_page(truth_codes, truth_xywh, pred_codes, pred_xy, ignore_labels)
    tp = int((taken >= 0).sum())
    return tp, len(pred_codes) - tp, len(taken) - tp


def prediction_arrays(value: PagePredictions) -> tuple[np.ndarray, np.ndarray]:
    """(codes [M], points_xy [M, 2]) from either accepted form of a page's predictions."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], np.ndarray):
        return np.asarray(value[0], dtype=str), value[1]
    triples = list(value)
    codes = np.asarray([t[0] for t in triples], dtype=str)
    points = np.asarray([(t[1], t[2]) for t in triples], dtype=np.float64).reshape(-1, 2)
    return codes, points


def evaluate(
    truth: Mapping[str, PageTruth], predictions: Mapping[str, PagePredictions], unknown_ids: str = "raise"
) -> Evaluation:
    """Score predictions against truth, labelled and detection-only, summed over the truth's pages.

    A truth page with no entry in `predictions` counts all its boxes as false negatives, as Kaggle
    scored an empty row.

    Args:
        truth: `{image_id: (codes [N], boxes_xywh [N, 4])}`, e.g. from kaggle.labels.read_truth_csv or
            `truth_from_pages`.
        predictions: `{image_id: predictions}`, either `(codes [M], points_xy [M, 2])` or (code, x, y) triples.
        unknown_ids: what to do with prediction pages absent from the truth. "raise" (default), because
            on Kaggle such rows are an error and locally they mostly mean the wrong truth file or fold;
            "ignore" drops them (scoring one fold of a full submission); "fp" counts their points as
            false positives.
    Raises:
        UnknownImageIdsError: unknown ids under "raise"; ValueError for an unknown policy.
    """
    if unknown_ids not in UNKNOWN_ID_POLICIES:
        raise ValueError(f"unknown_ids must be one of {UNKNOWN_ID_POLICIES}, got {unknown_ids!r}")
    unknown = [i for i in predictions if i not in truth]
    if unknown and unknown_ids == "raise":
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise UnknownImageIdsError(f"predictions for image_id {unknown[0]!r}{more} not in the truth")
    labelled = np.zeros(3, dtype=np.int64)  # tp, fp, fn
    detection = np.zeros(3, dtype=np.int64)
    empty = (np.zeros(0, dtype=str), np.zeros((0, 2)))
    for image_id, (codes, boxes) in truth.items():
        pred_codes, points = prediction_arrays(predictions[image_id]) if image_id in predictions else empty
        _check_lengths(codes, boxes, pred_codes, points)
        rows, cols = _inside_pairs(boxes, points)  # geometry once, for both scores
        same = np.asarray(codes, dtype=str)[rows] == pred_codes[cols]
        for total, (r, c) in ((labelled, (rows[same], cols[same])), (detection, (rows, cols))):
            tp = int((_greedy(len(codes), len(pred_codes), r, c) >= 0).sum())
            total += (tp, len(pred_codes) - tp, len(codes) - tp)
    if unknown_ids == "fp":
        extra = sum(len(prediction_arrays(predictions[i])[0]) for i in unknown)
        labelled[1] += extra
        detection[1] += extra
    return Evaluation(Score.from_counts(*labelled), Score.from_counts(*detection), pages=len(truth))


def truth_from_pages(pages: Iterable[Page]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{image_id: (codes, boxes_xywh)}` from Pages, so validation pages score without a CSV round trip."""
    truth = {}
    for page in pages:
        codes = np.asarray([c.code for c in page.chars], dtype=str)
        boxes = np.asarray([c.xywh for c in page.chars], dtype=np.float64).reshape(-1, 4)
        truth[page.image_id] = (codes, boxes)
    return truth
