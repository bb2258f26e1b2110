"""Reading in context: a page's characters decoded jointly, column after column in reading order, by a beam
search over each character's candidates with a character language model.

Each character contributes `crop_weight · log p(class | crop) + lm_weight · log p_LM(class | previous
characters)`. `crop_weight` is 1 / the classifier's temperature (fitted on synthetic validation pages, see
`kuzushiji_tf.measure.context_tuning`): real crops make the classifier over-confident, and a flatter
distribution lets the text decide between near ties. A glyph whose top class is at least `keep_above`
probable keeps it whatever the language model says: the model knows sentences, not this page, and a sharp
glyph outweighs a rare word. Plain numpy and Python; both backends, the server and every tool share it.

Hypotheses that end in the same `order - 1` characters have the same future, so only the best of them is
kept (recombination); the beam then holds distinct contexts rather than near-copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kuzushiji_tf import config
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    OUT_BOXES,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)
from kuzushiji_tf.recognition.reading_order import reading_layout

MIN_PROBABILITY = 1e-6  # a candidate's probability is floored here before its log: float32 rounds tiny ones to 0
TOPK_KEYS = (TOPK_CLASS_IDS, TOPK_CODEPOINTS, TOPK_PROBS)


class LanguageModel(Protocol):
    """What decoding needs of a character language model (`kuzushiji_tf.language_model.NgramModel`)."""

    order: int

    def index(self, code: str) -> int: ...

    def log_probs(self, history: Sequence[int], tokens: Sequence[int]) -> np.ndarray: ...


@dataclass(frozen=True)
class ContextOptions:
    """How strongly the text decides: see the module docstring. `order` 0 uses the whole model's order; a
    smaller one shortens the history the model sees."""

    lm_weight: float = config.CONTEXT_LM_WEIGHT
    crop_weight: float = 1.0
    beam: int = config.CONTEXT_BEAM
    keep_above: float = config.CONTEXT_KEEP_ABOVE
    order: int = 0

    def __post_init__(self):
        if self.beam < 1:
            raise ValueError(f"beam must be at least 1, not {self.beam}")
        if self.lm_weight < 0 or self.crop_weight <= 0:
            raise ValueError(f"lm_weight must be >= 0 and crop_weight > 0, not {self.lm_weight}, {self.crop_weight}")

    @classmethod
    def for_temperature(cls, temperature: float, **values) -> ContextOptions:
        if not temperature > 0:
            raise ValueError(f"a temperature must be positive, not {temperature}")
        return cls(crop_weight=1.0 / float(temperature), **values)

    @classmethod
    def of_recognizer(cls, options) -> ContextOptions:
        """The settings an export carries (`contract.RecognizerOptions`)."""
        return cls.for_temperature(
            options.temperature,
            lm_weight=options.lm_weight,
            beam=options.beam,
            keep_above=options.keep_above,
            order=options.context_order,
        )


def _tail(tokens: Sequence[int], n: int) -> tuple[int, ...]:
    return tuple(tokens)[max(len(tokens) - n, 0) :] if n > 0 else ()


def code_of(codepoint: int) -> str:
    return f"U+{int(codepoint):04X}"


def decode_run(
    lm: LanguageModel,
    tokens: np.ndarray,
    probabilities: np.ndarray,
    options: ContextOptions,
    history: Sequence[int] = (),
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The best reading of one run of characters (read one after the other).

    Args:
        lm: the language model.
        tokens: int [n, k] each character's candidates as the model's token ids, in the order given.
        probabilities: float [n, k] their probabilities from the classifier; a candidate of probability
            0 or less is padding and never chosen.
        options: weights, beam, `keep_above`.
        history: the model's tokens before the run (e.g. the boundary token at a text's start).
    Returns:
        (int [n] the chosen candidate's column in `tokens` per character, the chosen reading's last
        tokens: the history to continue a following run with).
    """
    tokens = np.asarray(tokens, np.int64).reshape(len(tokens), -1)
    probabilities = np.asarray(probabilities, np.float64).reshape(tokens.shape)
    order = min(options.order or lm.order, lm.order)
    keep = max(order - 1, 0)
    start = _tail(history, keep)
    hyps: list[tuple[float, tuple[int, ...]]] = [(0.0, start)]
    steps: list[list[tuple[int, int]]] = []  # per character, per kept hypothesis: (candidate, previous hypothesis)
    for tok, prob in zip(tokens, probabilities):
        valid = np.flatnonzero(prob > 0)
        if len(valid) == 0:
            valid = np.zeros(1, np.int64)
        top = valid[np.argmax(prob[valid])]
        if prob[top] >= options.keep_above:
            valid = np.asarray([top])
        crop = options.crop_weight * np.log(np.maximum(prob[valid], MIN_PROBABILITY))
        best: dict[tuple[int, ...], tuple[float, int, int]] = {}
        for h, (score, context) in enumerate(hyps):
            lm_scores = lm.log_probs(context, tok[valid]) if options.lm_weight else np.zeros(len(valid))
            totals = score + crop + options.lm_weight * np.asarray(lm_scores, np.float64)
            for j, total in zip(valid, totals):
                key = _tail(context + (int(tok[j]),), keep)
                if key not in best or total > best[key][0]:
                    best[key] = (float(total), int(j), h)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])[: options.beam]
        hyps = [(total, key) for key, (total, _, _) in ranked]
        steps.append([(j, h) for _, (_, j, h) in ranked])
    chosen = np.zeros(len(steps), np.int64)
    h = 0  # hypotheses are ranked, so the best is first
    for i in range(len(steps) - 1, -1, -1):
        chosen[i], h = steps[i][h]
    return chosen, hyps[0][1]


def choose(result: dict, chosen: np.ndarray) -> dict:
    """`result` (see `postprocess.page_results`) with each character's candidates reordered so that the
    chosen one (`chosen[i]`, a column of the top-k arrays) comes first, the rest in their given order, and
    the character's code, code point and probability those of its chosen candidate."""
    k = np.asarray(result[TOPK_PROBS]).shape[1] if len(result[CODES]) else 0
    chosen = np.asarray(chosen, np.int64)
    if not len(chosen) or not chosen.any():
        return result
    rank = np.argsort(np.arange(k)[None, :] != chosen[:, None], axis=1, kind="stable")  # chosen first
    rows = np.arange(len(chosen))[:, None]
    out = dict(result)
    for key in TOPK_KEYS:
        out[key] = np.asarray(result[key])[rows, rank]
    out[CODEPOINTS] = out[TOPK_CODEPOINTS][:, 0].astype(np.asarray(result[CODEPOINTS]).dtype)
    out[CLASS_PROBS] = out[TOPK_PROBS][:, 0].astype(np.asarray(result[CLASS_PROBS]).dtype)
    out[CODES] = [code_of(c) if j else code for code, c, j in zip(result[CODES], out[CODEPOINTS], chosen)]
    return out


def candidate_tokens(lm: LanguageModel, codepoints: np.ndarray) -> np.ndarray:
    """The model's token id of each candidate code point (int [n, k]); unknown characters get its unknown id."""
    cache: dict[int, int] = {}
    flat = np.asarray(codepoints, np.int64).reshape(-1)
    out = np.empty(len(flat), np.int64)
    for i, c in enumerate(flat.tolist()):
        if c not in cache:
            cache[c] = lm.index(code_of(c))
        out[i] = cache[c]
    return out.reshape(np.asarray(codepoints).shape)


def decode_runs(
    lm: LanguageModel,
    codepoints: np.ndarray,
    probabilities: np.ndarray,
    runs: Sequence[np.ndarray],
    options: ContextOptions,
    boundary: Sequence[int] = (),
) -> np.ndarray:
    """Chosen candidate per character (int [n]) with each run of character indices (`runs`, e.g. a
    block's characters in reading order) decoded as one text starting after `boundary`."""
    chosen = np.zeros(len(codepoints), np.int64)
    if not len(codepoints):
        return chosen
    tokens = candidate_tokens(lm, codepoints)
    probabilities = np.asarray(probabilities, np.float64)
    for run in runs:
        run = np.asarray(run, np.int64)
        if len(run):
            chosen[run], _ = decode_run(lm, tokens[run], probabilities[run], options, boundary)
    return chosen


def page_runs(boxes: np.ndarray) -> list[np.ndarray]:
    """A page's characters as runs of text: each block's columns in reading order, one after the other (a
    sentence goes on from one column's foot to the next column's head; a new block starts a new text)."""
    order, _, block_of = reading_layout(boxes)
    if not len(order):
        return []
    blocks = block_of[order]
    cuts = np.flatnonzero(np.diff(blocks)) + 1
    return [np.asarray(run, np.int64) for run in np.split(order, cuts)]


def decode_page(result: dict, lm: LanguageModel, options: ContextOptions, boundary: Sequence[int] = ()) -> dict:
    """`result` (see `postprocess.page_results`) with each character's reading chosen in context (`choose`)."""
    if not len(result[CODES]):
        return result
    runs = page_runs(np.asarray(result[OUT_BOXES]))
    chosen = decode_runs(lm, result[TOPK_CODEPOINTS], result[TOPK_PROBS], runs, options, boundary)
    return choose(result, chosen)


def boundary_of(lm: LanguageModel) -> tuple[int, ...]:
    """The model's start-of-text token as a history, when it has one (`NgramModel.BOUNDARY`)."""
    token = getattr(lm, "BOUNDARY", None)
    return () if token is None else (int(token),)


def shipped_language_model() -> LanguageModel:
    """The character model shipped in the package, loaded on first use (the import stays out of start-up)."""
    from kuzushiji_tf.language_model import shipped_model

    return shipped_model()


def read_in_context(result: dict, options, lm: LanguageModel | None = None) -> dict:
    """`decode_page` with an export's settings (`contract.RecognizerOptions`) and, by default, the shipped
    model: what every research output and the Kaggle submission read unless context is turned off."""
    lm = shipped_language_model() if lm is None else lm
    return decode_page(result, lm, ContextOptions.of_recognizer(options), boundary_of(lm))
