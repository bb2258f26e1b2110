"""Context decoding measured and tuned on the TRUE boxes of labelled pages: each box's top-k candidates from
the classifier (cut as the exported recogniser cuts them), read in reading order, decoded with and without
the language model.

Tuning (the classifier's temperature, λ, the beam, the model order, `keep_above`) is done on synthetic
validation pages written from held-out documents in hands kept out of training, never on the real labelled
pages; those are only measured, with the settings chosen elsewhere.

The temperature is fitted on the candidates alone: the likelihood of the true class among a box's top-k
probabilities raised to 1/T and renormalised, over boxes whose truth is among them. That is exactly the
choice decoding makes, and needs no full softmax from the exported graph.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.recognition.context import ContextOptions, LanguageModel, boundary_of, decode_runs, page_runs
from kuzushiji_tf.recognition.contract import RecognizerOptions
from kuzushiji_tf.structures import Page

TEMPERATURES = tuple(np.round(np.geomspace(0.5, 8.0, 25), 3))
# 48 settings, ~2 minutes over 10,000 boxes on 2 cores. keep_above moved top-1 by at most 0.0002 on the
# first validation set (docs/experiments.md), so two values: on, and off (1.01: no glyph is ever kept).
GRID = {"lm_weight": (0.1, 0.2, 0.3, 0.5, 0.7, 1.0), "keep_above": (0.9, 1.01), "beam": (4, 8), "order": (3, 5)}
CODH_COLUMNS = ("Unicode", "Image", "X", "Y", "Block ID", "Char ID")


class TuningError(KuzushijiError, ValueError):
    """Unusable tuning input: names the file and the problem."""


@dataclass(frozen=True)
class Candidates:
    """Labelled boxes with their candidates: `codepoints` int [N, k] and `probabilities` float [N, k] from
    the classifier (best first), `truth` [N] codes, `runs` the box indices of each text in reading order."""

    codepoints: np.ndarray
    probabilities: np.ndarray
    truth: list[str]
    runs: list[np.ndarray]

    @functools.cached_property
    def truth_codepoints(self) -> np.ndarray:
        return np.asarray([int(code[2:], 16) for code in self.truth], np.int64)

    def save(self, path: str | Path) -> None:
        arrays = {"codepoints": self.codepoints, "probabilities": self.probabilities, "truth": np.asarray(self.truth)}
        arrays.update({f"run{k}": run for k, run in enumerate(self.runs)})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_atomic(Path(path), buffer.getvalue(), make_parents=True)

    @classmethod
    def load(cls, path: str | Path) -> Candidates:
        with np.load(path) as data:
            runs = [data[f"run{k}"] for k in range(sum(1 for name in data.files if name.startswith("run")))]
            return cls(data["codepoints"], data["probabilities"], [str(t) for t in data["truth"]], runs)


def codh_runs(pages: Sequence[Page], codh_csv: str | Path) -> list[np.ndarray]:
    """Per page and block, the page's boxes (numbered over all pages, in train.csv order) in the CODH CSV's
    reading order (Char ID within a Block ID). A box the CSV lacks is an error that names it."""
    path = Path(codh_csv)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CODH_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TuningError(f"{path}: not a CODH coordinate CSV (no column {', '.join(missing)})")
        where = {
            (row["Image"], row["Unicode"], int(row["X"]), int(row["Y"])): (row["Block ID"], row["Char ID"])
            for row in reader
        }
    runs, first = [], 0
    for page in pages:
        keys = []
        for k, char in enumerate(page.chars):
            key = (page.image_id, char.code, int(round(char.box[0])), int(round(char.box[1])))
            if key not in where:
                raise TuningError(f"{path}: no row for {page.image_id}'s box {k} ({char.code} at {key[2]},{key[3]})")
            keys.append((where[key], first + k))
        keys.sort()
        for _, group in itertools.groupby(keys, key=lambda item: item[0][0]):
            runs.append(np.asarray([index for _, index in group], np.int64))
        first += len(page.chars)
    return runs


def label_runs(pages: Sequence[Page]) -> list[np.ndarray]:
    """One run per page, the boxes in label order: the synthetic pages write labels in reading order."""
    runs, first = [], 0
    for page in pages:
        runs.append(np.arange(first, first + len(page.chars), dtype=np.int64))
        first += len(page.chars)
    return runs


def layout_runs(pages: Sequence[Page]) -> list[np.ndarray]:
    """Each page's boxes in the order the recogniser reads detections (`context.page_runs`: blocks of
    columns), for labelled pages whose labels come in no reading order (Kaggle's train.csv)."""
    runs, first = [], 0
    for page in pages:
        if page.chars:
            boxes = np.asarray([char.box for char in page.chars], np.float32)
            runs.extend(first + run for run in page_runs(boxes))
        first += len(page.chars)
    return runs


def true_box_candidates(
    classifier, vocabulary: Sequence[str], pages: Sequence[Page], runs, *, progress=True, top_k: int = 5
):
    """`Candidates` of the pages' true boxes, through `real_pages.classify_true_boxes`."""
    from kuzushiji_tf.measure.real_pages import classify_true_boxes, true_codes

    ranked, probabilities = classify_true_boxes(
        classifier, pages, progress=progress, with_probabilities=True, top_k=top_k
    )
    codepoints = np.asarray([int(code[2:], 16) for code in vocabulary], np.int64)[ranked]
    return Candidates(codepoints, probabilities, true_codes(pages), runs)


def _hits(candidates: Candidates) -> np.ndarray:
    return candidates.codepoints == candidates.truth_codepoints[:, None]


def fit_temperature(candidates: Candidates, temperatures: Sequence[float] = TEMPERATURES) -> tuple[float, float]:
    """(temperature, mean negative log-likelihood) that best explains the true class among each box's
    candidates (boxes whose truth is not among them carry no information about the choice)."""
    hits = _hits(candidates)
    known = hits.any(axis=1)
    if not known.any():
        raise TuningError("no box has its true class among the candidates: nothing to fit a temperature on")
    logp = np.log(np.maximum(candidates.probabilities[known], 1e-12))
    target = hits[known].argmax(axis=1)
    best = (1.0, np.inf)
    for t in temperatures:
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), target]))
        if nll < best[1]:
            best = (float(t), nll)
    return best


def decode_candidates(lm: LanguageModel | None, candidates: Candidates, options: ContextOptions | None) -> np.ndarray:
    """Chosen code point per box: the top candidate without a model (`lm` or `options` None), else each run
    decoded in context after the model's boundary token (`context.decode_runs`, as a page is read)."""
    if lm is None or options is None:
        chosen = np.zeros(len(candidates.truth), np.int64)
    else:
        chosen = decode_runs(
            lm, candidates.codepoints, candidates.probabilities, candidates.runs, options, boundary_of(lm)
        )
    return candidates.codepoints[np.arange(len(chosen)), chosen]


def top1(candidates: Candidates, chosen: np.ndarray) -> float:
    truth = candidates.truth_codepoints
    return float(np.mean(chosen == truth)) if len(truth) else 0.0


@dataclass(frozen=True)
class Trial:
    options: dict
    top1: float
    seconds: float


def grid_search(lm: LanguageModel, candidates: Candidates, temperature: float, grid: dict = GRID) -> list[Trial]:
    """Every combination of `grid` at the fitted `temperature`, best top-1 first (ties: the cheaper beam)."""
    trials = []
    names = list(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        chosen_options = dict(zip(names, values))
        options = ContextOptions.for_temperature(temperature, **chosen_options)
        start = time.perf_counter()
        score = top1(candidates, decode_candidates(lm, candidates, options))
        trials.append(Trial({"temperature": temperature, **chosen_options}, score, time.perf_counter() - start))
    return sorted(trials, key=lambda t: (-t.top1, t.options["beam"], t.options["order"]))


def summary(lm: LanguageModel, candidates: Candidates, options: ContextOptions) -> dict:
    """Top-1 without and with context, with the top-k ceiling and the time decoding took."""
    start = time.perf_counter()
    chosen = decode_candidates(lm, candidates, options)
    seconds = time.perf_counter() - start
    alone = decode_candidates(None, candidates, None)
    truth = candidates.truth_codepoints
    return {
        "boxes": len(candidates.truth),
        "top1_alone": top1(candidates, alone),
        "top1_context": top1(candidates, chosen),
        # Characters context made right and made wrong: a gain must not hide what it breaks.
        "fixed": int(((chosen == truth) & (alone != truth)).sum()),
        "broken": int(((chosen != truth) & (alone == truth)).sum()),
        "topk_ceiling": float(_hits(candidates).any(axis=1).mean()) if len(candidates.truth) else 0.0,
        "decode_seconds": round(seconds, 3),
        "options": asdict(options),
    }


def read_settings(path: str | Path) -> dict:
    """The `contract.RecognizerOptions` fields (temperature, lm_weight, beam, keep_above, context_order) of a
    settings file `kuzushiji-tune-context --out` wrote; TuningError naming the file if it is not one."""
    try:
        tuned = json.loads(Path(path).read_text(encoding="utf-8"))
        context = tuned["context"]
        return {
            "temperature": float(tuned["temperature"]),
            "lm_weight": float(context["lm_weight"]),
            "beam": int(context["beam"]),
            "keep_above": float(context["keep_above"]),
            "context_order": int(context.get("order", 0)),
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TuningError(f"{path}: not a kuzushiji-tune-context settings file ({error!r})") from error


def settings_options(path: str | Path) -> ContextOptions:
    """The decoding `read_settings` describes."""
    return ContextOptions.of_recognizer(RecognizerOptions(**read_settings(path)))


def write_json(path: str | Path, values: dict) -> Path:
    path = Path(path)
    write_atomic(path, json.dumps(values, ensure_ascii=False, indent=1) + "\n", make_parents=True)
    return path
