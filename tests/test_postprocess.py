"""The shared post-processing after the exported graph: one page's entries out of padded outputs, and the
class threshold that both backends, the server and TF Serving clients apply the same way."""

import numpy as np

from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    COUNT,
    DET_SCORES,
    OUT_BOXES,
    OUTPUT_KEYS,
    SHORT_SIDE,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)
from kuzushiji_tf.recognition.postprocess import confident, page_results
from kuzushiji_tf.serving.tf_serving_rest import padded_outputs, predict_response, results_from_response


def padded_batch() -> dict:
    """Two pages padded to 4 entries, 2 candidates each: page 0 holds 3 detections, page 1 none."""
    top = np.array([[0.9, 0.05], [0.4, 0.3], [0.5, 0.2], [0, 0]], np.float32)
    ids = np.array([[1, 0], [0, 2], [2, 1], [0, 0]], np.int32)
    codepoints = np.array([0x3042, 0x3044, 0x3046], np.int32)[ids]
    return {
        CODES: np.array([[b"U+3044", b"U+3042", b"U+3046", b""], [b""] * 4], object),
        CODEPOINTS: np.stack([codepoints[:, 0], np.zeros(4, np.int32)]),
        DET_SCORES: np.array([[0.8, 0.7, 0.6, 0], [0] * 4], np.float32),
        CLASS_PROBS: np.stack([top[:, 0], np.zeros(4, np.float32)]),
        OUT_BOXES: np.arange(32, dtype=np.float32).reshape(2, 4, 4),
        TOPK_CLASS_IDS: np.stack([ids, np.zeros_like(ids)]),
        TOPK_CODEPOINTS: np.stack([codepoints, np.zeros_like(codepoints)]),
        TOPK_PROBS: np.stack([top, np.zeros_like(top)]),
        COUNT: np.array([3, 0], np.int32),
    }


def test_page_results_keeps_every_detection_with_its_candidates():
    outputs = padded_batch()
    page = page_results(outputs, 0)
    assert set(page) == set(OUTPUT_KEYS) - {COUNT, SHORT_SIDE}  # per character only
    assert page[CODES] == ["U+3044", "U+3042", "U+3046"]
    assert page[TOPK_CLASS_IDS].tolist() == [[1, 0], [0, 2], [2, 1]]
    assert page[TOPK_CODEPOINTS].tolist() == [[0x3044, 0x3042], [0x3042, 0x3046], [0x3046, 0x3044]]
    np.testing.assert_array_equal(page[OUT_BOXES], outputs[OUT_BOXES][0, :3])
    empty = page_results(outputs, 1)
    assert empty[CODES] == [] and empty[TOPK_PROBS].shape == (0, 2) and empty[OUT_BOXES].shape == (0, 4)


def test_the_class_threshold_keeps_the_confident_characters_in_order():
    page = page_results(padded_batch(), 0)
    kept = confident(page, 0.5)  # 0.5 itself is kept, as the graph's >= did
    assert kept[CODES] == ["U+3044", "U+3046"]
    assert kept[DET_SCORES].tolist() == np.float32([0.8, 0.6]).tolist()
    assert kept[TOPK_CLASS_IDS].tolist() == [[1, 0], [2, 1]]
    np.testing.assert_array_equal(kept[OUT_BOXES], page[OUT_BOXES][[0, 2]])
    assert confident(page, 0.0) is page  # nothing to drop: the same result
    assert confident(page, 0.95)[CODES] == [] and confident(page, 0.95)[TOPK_PROBS].shape == (0, 2)


def test_tf_serving_responses_round_trip_to_the_same_results():
    """What a TF Serving client reads back from this server's predict answer (row and columnar) is what
    page_results gave, candidates included, so the threshold applies the same on either side."""
    outputs = padded_batch()
    pages = [page_results(outputs, i) for i in range(2)]
    for row in (True, False):
        response = predict_response([padded_outputs(page, 4) for page in pages], row)
        back = results_from_response(response)
        for before, after in zip(pages, back):
            assert after[CODES] == before[CODES]
            for key in (TOPK_CLASS_IDS, TOPK_CODEPOINTS, CODEPOINTS):
                assert after[key].tolist() == before[key].tolist()
            np.testing.assert_allclose(after[TOPK_PROBS], before[TOPK_PROBS], atol=1e-6)
            assert confident(after, 0.5)[CODES] == confident(before, 0.5)[CODES]
