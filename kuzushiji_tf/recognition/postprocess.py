"""After the exported graph: its padded outputs to one page's characters, and the class threshold. The
graph (either backend) stops at every detection with its top-k classes; what is kept and how it is read
happens here, in Python without TensorFlow, once for both backends, the server and TF Serving clients.

Research outputs (every format of `kuzushiji_tf.formats`, the server, the web page, Beam) keep every
detection: the class threshold only flags a character `uncertain` (`page_text.page_record`). Only the
Kaggle submission drops characters, with `confident`."""

from __future__ import annotations

import numpy as np

from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    COUNT,
    DET_SCORES,
    OUT_BOXES,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)

PER_CHARACTER = (CODEPOINTS, DET_SCORES, CLASS_PROBS, OUT_BOXES, TOPK_CLASS_IDS, TOPK_CODEPOINTS, TOPK_PROBS)


def page_results(outputs: dict, index: int = 0) -> dict:
    """One page's detections as numpy, every one of them, best detection first: `CODES` (str, the top
    class), `CODEPOINTS` int32 [n], `OUT_BOXES` float32 [n, 4] xyxy scan pixels, `DET_SCORES` [n],
    `CLASS_PROBS` [n] (the top class's probability), `TOPK_CLASS_IDS` int32 [n, k], `TOPK_CODEPOINTS`
    int32 [n, k] and `TOPK_PROBS` float32 [n, k] (candidates, most probable first). `outputs` are a batch
    of padded outputs (numpy arrays or eager tensors); `index` picks the page."""
    n = int(np.asarray(outputs[COUNT])[index])
    codes = np.asarray(outputs[CODES])[index][:n]
    result = {CODES: [c.decode() if isinstance(c, bytes) else str(c) for c in codes]}
    for key in PER_CHARACTER:
        result[key] = np.asarray(outputs[key])[index][:n]
    return result


def box_results(outputs: dict) -> dict:
    """`classify_boxes`' outputs (either backend, unpadded: one entry per box given) in `page_results`'
    shape: `CODES` as str, the rest as numpy, so `page_text.candidates` reads them as a page's."""
    result = {CODES: [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(outputs[CODES])]}
    for key in PER_CHARACTER:
        if key in outputs:
            result[key] = np.asarray(outputs[key])
    return result


def confident(result: dict, cls_threshold: float) -> dict:
    """The characters of `result` (see `page_results`) whose top class has at least `cls_threshold`
    probability, in the same order: what Kaggle's metric wants, since a wrong name costs as much as a
    missed character. 0 keeps every detection. For the Kaggle submission only (`batch_recognition.
    submission_points`); research outputs keep every character and flag it (`uncertain`)."""
    keep = np.flatnonzero(np.asarray(result[CLASS_PROBS], np.float32) >= np.float32(cls_threshold))
    if len(keep) == len(result[CODES]):
        return result
    kept = {CODES: [result[CODES][i] for i in keep]}
    for key in PER_CHARACTER:
        if key in result:
            kept[key] = np.asarray(result[key])[keep]
    return kept


def uncertain(result: dict, cls_threshold: float) -> np.ndarray:
    """bool [n]: the characters of `result` whose (chosen) class has less than `cls_threshold` probability,
    the ones `confident` would drop; research outputs keep them, flagged."""
    return np.asarray(result[CLASS_PROBS], np.float32) < np.float32(cls_threshold)
