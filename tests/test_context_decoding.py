"""Context decoding: a beam search over each character's candidates with a character language model."""

import itertools
import math

import numpy as np
import pytest

from kuzushiji_tf.recognition.context import ContextOptions, choose, decode_page, decode_run, page_runs
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    DET_SCORES,
    OUT_BOXES,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)

UNK, BOS = 0, 1


class BigramModel:
    """A hand-made bigram model over a few tokens: `pairs` {(previous, next): probability}; the rest of the
    mass spread evenly. Enough to check decoding against exhaustive search."""

    order = 2

    def __init__(self, vocabulary, pairs, floor=0.01):
        self.vocabulary = vocabulary
        self.pairs = pairs
        self.floor = floor
        self.calls = 0

    def index(self, code):
        return self.vocabulary.index(code) if code in self.vocabulary else UNK

    def log_probs(self, history, tokens):
        self.calls += 1
        prev = history[-1] if history else None
        return np.log([self.pairs.get((prev, t), self.floor) for t in tokens])


def test_the_language_model_overrules_an_unsure_glyph_but_not_a_sure_one():
    # 申 then 候/侯: the crop slightly prefers 侯, the text strongly prefers 候.
    lm = BigramModel(["<unk>", "<s>", "申", "候", "侯"], {(2, 3): 0.5, (2, 4): 0.001})
    tokens = np.array([[2, 4], [4, 3]])
    unsure = np.array([[0.9, 0.1], [0.55, 0.45]])
    chosen, history = decode_run(lm, tokens, unsure, ContextOptions(lm_weight=1.0, keep_above=0.99))
    assert chosen.tolist() == [0, 1] and history == (3,)
    sure = np.array([[0.995, 0.005], [0.995, 0.005]])
    chosen, _ = decode_run(lm, tokens, sure, ContextOptions(lm_weight=1.0, keep_above=0.99))
    assert chosen.tolist() == [0, 0]
    chosen, _ = decode_run(lm, tokens, unsure, ContextOptions(lm_weight=0.0))
    assert chosen.tolist() == [0, 0]  # no context: each character's own best


def test_padding_candidates_are_never_chosen():
    lm = BigramModel(["<unk>", "<s>", "a", "b"], {(None, 3): 0.9})
    chosen, _ = decode_run(lm, np.array([[2, 3]]), np.array([[0.6, 0.0]]), ContextOptions(lm_weight=5.0))
    assert chosen.tolist() == [0]


def sequence_log_prob(lm, tokens):
    """Natural-log probability of `tokens` read from the start, one model query per token."""
    total, context = 0.0, ()
    for token in tokens:
        total += float(lm.log_probs(context[-(lm.order - 1) :], [token])[0])
        context += (int(token),)
    return total


def _exhaustive(lm, tokens, probs, options):
    best, best_score = None, -math.inf
    for pick in itertools.product(range(tokens.shape[1]), repeat=len(tokens)):
        toks = [tokens[i, j] for i, j in enumerate(pick)]
        score = sum(options.crop_weight * math.log(probs[i, j]) for i, j in enumerate(pick))
        score += options.lm_weight * sequence_log_prob(lm, toks)
        if score > best_score:
            best, best_score = list(pick), score
    return best


def test_a_beam_as_wide_as_the_states_finds_the_best_reading():
    rng = np.random.default_rng(0)
    vocabulary = ["<unk>", "<s>"] + [f"U+30{k:02X}" for k in range(6)]
    pairs = {(a, b): float(p) for a in [None, *range(2, 8)] for b, p in zip(range(2, 8), rng.dirichlet(np.ones(6)))}
    lm = BigramModel(vocabulary, pairs)
    options = ContextOptions(lm_weight=0.8, crop_weight=0.7, beam=6, keep_above=1.1)
    for _ in range(5):
        tokens = np.stack([rng.choice(np.arange(2, 8), 3, replace=False) for _ in range(5)])
        probs = rng.dirichlet(np.ones(3), size=5)
        chosen, _ = decode_run(lm, tokens, probs, options)
        # A bigram's state is the last token: 6 states, so a beam of 6 is exact.
        assert chosen.tolist() == _exhaustive(lm, tokens, probs, options)


def _result(codepoints, probs, boxes):
    n, k = np.asarray(codepoints).shape
    return {
        CODES: [f"U+{c:04X}" for c in np.asarray(codepoints)[:, 0]],
        CODEPOINTS: np.asarray(codepoints)[:, 0].astype(np.int32),
        DET_SCORES: np.full(n, 0.9, np.float32),
        CLASS_PROBS: np.asarray(probs, np.float32)[:, 0],
        OUT_BOXES: np.asarray(boxes, np.float32),
        TOPK_CLASS_IDS: np.tile(np.arange(k, dtype=np.int32), (n, 1)),
        TOPK_CODEPOINTS: np.asarray(codepoints, np.int32),
        TOPK_PROBS: np.asarray(probs, np.float32),
    }


def test_choose_puts_the_chosen_candidate_first_and_keeps_the_others():
    result = _result(
        [[0x3042, 0x3044, 0x3046], [0x304B, 0x304D, 0x304F]], [[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]], [[0, 0, 1, 1]] * 2
    )
    out = choose(result, np.array([2, 0]))
    assert out[TOPK_CODEPOINTS].tolist() == [[0x3046, 0x3042, 0x3044], [0x304B, 0x304D, 0x304F]]
    assert out[TOPK_PROBS][0].tolist() == pytest.approx([0.2, 0.5, 0.3])
    assert out[TOPK_CLASS_IDS][0].tolist() == [2, 0, 1]
    assert out[CODES] == ["U+3046", "U+304B"] and out[CODEPOINTS].tolist() == [0x3046, 0x304B]
    assert out[CLASS_PROBS].tolist() == pytest.approx([0.2, 0.6])
    assert result[CODES] == ["U+3042", "U+304B"]  # the input is left as it was


def test_a_page_is_decoded_column_after_column_in_reading_order():
    # Two columns: the right one (read first) ends with 申, the left one starts with an unsure 侯/候.
    # The model links 申 → 候 only, so the decision depends on reading the right column first.
    vocabulary = ["<unk>", "<s>", "U+7533", "U+5019", "U+4FAF", "U+306E"]
    lm = BigramModel(vocabulary, {(2, 3): 0.6, (2, 4): 0.001})
    boxes = [[100, 0, 120, 20], [100, 30, 120, 50], [60, 0, 80, 20], [60, 30, 80, 50]]
    codepoints = [[0x306E, 0x306E], [0x7533, 0x7533], [0x4FAF, 0x5019], [0x306E, 0x306E]]
    probs = [[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.9, 0.1]]
    result = _result(codepoints, probs, boxes)
    assert [r.tolist() for r in page_runs(result[OUT_BOXES])] == [[0, 1, 2, 3]]
    out = decode_page(result, lm, ContextOptions(lm_weight=1.0, keep_above=0.99))
    assert out[CODES] == ["U+306E", "U+7533", "U+5019", "U+306E"]
    assert decode_page(result, lm, ContextOptions(lm_weight=0.0))[CODES][2] == "U+4FAF"


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="beam"):
        ContextOptions(beam=0)
    with pytest.raises(ValueError, match="temperature"):
        ContextOptions.for_temperature(0.0)
    assert ContextOptions.for_temperature(2.0).crop_weight == 0.5
