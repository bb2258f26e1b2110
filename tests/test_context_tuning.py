"""Tuning context decoding on labelled boxes: the temperature fit, reading order from a CODH CSV, the grid."""

import numpy as np
import pytest

from kuzushiji_tf.measure.context_tuning import (
    Candidates,
    TuningError,
    codh_runs,
    decode_candidates,
    fit_temperature,
    grid_search,
    label_runs,
    summary,
    top1,
)
from kuzushiji_tf.recognition.context import ContextOptions
from kuzushiji_tf.structures import Char, Page


def _sampled(rng, n, k, temperature):
    """Boxes whose truth is drawn from softmax(logits / temperature) while the candidates' stated
    probabilities are softmax(logits): a classifier over-confident by `temperature`."""
    logits = np.sort(rng.normal(0, 3, (n, k)), axis=1)[:, ::-1]
    stated = np.exp(logits - logits.max(1, keepdims=True))
    stated /= stated.sum(1, keepdims=True)
    true_p = np.exp(logits / temperature - (logits / temperature).max(1, keepdims=True))
    true_p /= true_p.sum(1, keepdims=True)
    picks = np.array([rng.choice(k, p=p) for p in true_p])
    codepoints = 0x3042 + np.arange(n * k).reshape(n, k)
    truth = [f"U+{codepoints[i, j]:04X}" for i, j in enumerate(picks)]
    return Candidates(codepoints, stated.astype(np.float32), truth, [np.arange(n)])


def test_the_fitted_temperature_recovers_an_over_confident_classifier():
    rng = np.random.default_rng(0)
    temperature, _ = fit_temperature(_sampled(rng, 4000, 5, 2.0))
    assert 1.7 < temperature < 2.4
    temperature, _ = fit_temperature(_sampled(rng, 4000, 5, 1.0))
    assert 0.85 < temperature < 1.2


def test_a_temperature_needs_boxes_with_their_truth_among_the_candidates():
    c = Candidates(np.array([[0x3042, 0x3044]]), np.array([[0.6, 0.4]]), ["U+5000"], [np.arange(1)])
    with pytest.raises(TuningError, match="no box"):
        fit_temperature(c)


def _page(image_id, boxes, codes):
    return Page(image_id, None, 100, 100, tuple(Char(c, b) for c, b in zip(codes, boxes)))


def test_codh_order_reads_each_block_by_char_id(tmp_path):
    pages = [
        _page("p1", [(10, 10, 20, 20), (10, 30, 20, 40), (50, 10, 60, 20)], ["U+3042", "U+3044", "U+3046"]),
        _page("p2", [(5, 5, 9, 9)], ["U+3048"]),
    ]
    csv = tmp_path / "codh.csv"
    csv.write_text(
        "Unicode,Image,X,Y,Block ID,Char ID,Width,Height\n"
        "U+3046,p1,50,10,B0001,C0001,10,10\nU+3042,p1,10,10,B0001,C0002,10,10\n"
        "U+3044,p1,10,30,B0002,C0001,10,10\nU+3048,p2,5,5,B0001,C0001,4,4\n",
        encoding="utf-8",
    )
    assert [r.tolist() for r in codh_runs(pages, csv)] == [[2, 0], [1], [3]]
    assert [r.tolist() for r in label_runs(pages)] == [[0, 1, 2], [3]]
    csv.write_text("Unicode,Image,X,Y,Block ID,Char ID\nU+3046,p1,50,10,B0001,C0001\n", encoding="utf-8")
    with pytest.raises(TuningError, match=r"codh\.csv: no row for p1's box 0"):
        codh_runs(pages, csv)


class _PairModel:
    """Bigram: after token 2 comes token 3 (p 0.9); anything else 0.05."""

    order = 2
    vocabulary = ("<unk>", "<s>", "U+7533", "U+5019", "U+4FAF")

    def index(self, code):
        return self.vocabulary.index(code) if code in self.vocabulary else 0

    def log_probs(self, history, tokens):
        prev = history[-1] if history else None
        return np.log([0.9 if (prev, t) == (2, 3) else 0.05 for t in tokens])


def test_the_grid_finds_settings_that_let_the_text_fix_near_ties():
    # 申 then an unsure 侯 (0.55) / 候 (0.45), repeated: context reads 候 and wins every second box.
    codepoints = np.array([[0x7533, 0x4FAF], [0x4FAF, 0x5019]] * 20)
    probs = np.array([[0.99, 0.01], [0.55, 0.45]] * 20)
    truth = ["U+7533", "U+5019"] * 20
    c = Candidates(codepoints, probs, truth, [np.arange(2 * k, 2 * k + 2) for k in range(20)])
    lm = _PairModel()
    assert top1(c, decode_candidates(None, c, None)) == 0.5
    trials = grid_search(lm, c, 1.0, {"lm_weight": (0.0, 1.0), "keep_above": (1.01,), "beam": (1, 4), "order": (2,)})
    assert trials[0].top1 == 1.0 and trials[0].options["lm_weight"] == 1.0 and trials[0].options["beam"] == 1
    assert trials[-1].top1 == 0.5
    figures = summary(lm, c, ContextOptions(lm_weight=1.0, keep_above=1.01))
    assert figures["top1_alone"] == 0.5 and figures["top1_context"] == 1.0 and figures["topk_ceiling"] == 1.0
    assert figures["fixed"] == 20 and figures["broken"] == 0


def test_candidates_survive_a_round_trip(tmp_path):
    c = Candidates(
        np.array([[1, 2], [3, 4]]),
        np.array([[0.7, 0.3], [0.6, 0.4]], np.float32),
        ["U+0001", "U+0004"],
        [np.array([1, 0])],
    )
    c.save(tmp_path / "c.npz")
    back = Candidates.load(tmp_path / "c.npz")
    assert back.truth == c.truth and back.codepoints.tolist() == c.codepoints.tolist()
    assert [r.tolist() for r in back.runs] == [[1, 0]] and back.probabilities.dtype == np.float32
