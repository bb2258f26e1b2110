"""Every character kept, with its candidates: the page record reads the top-k arrays in their given order;
one page's JSON, PAGE-XML and ALTO carry the same candidates (and PAGE and ALTO stay valid); the research
outputs keep the characters below the class threshold, flagged `uncertain`, while the Kaggle submission
drops them."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from lxml import etree

from conftest import make_kaggle_dir, splitting_threshold, with_cls_threshold
from kuzushiji_tf.formats import PageSource, alto, json_record, page_xml
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    DET_SCORES,
    OUT_BOXES,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)
from kuzushiji_tf.recognition.page_text import page_record
from serving_helpers import REAL_PAGES

PC = {"pc": page_xml.NS}
AL = {"a": alto.NS}


def _result(topk_codes, topk_probs, chosen_probs):
    n = len(topk_codes)
    return {
        CODES: [codes[0] for codes in topk_codes],
        CODEPOINTS: np.array([int(codes[0][2:], 16) for codes in topk_codes], np.int32),
        OUT_BOXES: np.array([[10, 10 + 50 * i, 40, 50 + 50 * i] for i in range(n)], np.float32),
        DET_SCORES: np.full(n, 0.9, np.float32),
        CLASS_PROBS: np.asarray(chosen_probs, np.float32),
        TOPK_CODEPOINTS: np.array([[int(c[2:], 16) for c in codes] for codes in topk_codes], np.int32),
        TOPK_PROBS: np.asarray(topk_probs, np.float32),
    }


def test_page_record_reads_the_candidates_in_the_order_given():
    # The second character's arrays were reordered by a later step: its chosen reading (first) is not the
    # most probable. The record keeps the order given and flags by the chosen reading's probability.
    result = _result(
        [["U+3042", "U+3044", "U+304B"], ["U+304B", "U+3042", "U+1B002"]],
        [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]],
        [0.7, 0.3],
    )
    record = page_record("p", result, {"U+3042": "a"}, cls_threshold=0.5)
    first, second = record["characters"]  # one column, top to bottom
    assert first["candidates"] == [
        {"code": "U+3042", "char": "a", "probability": 0.7},
        {"code": "U+3044", "char": "い", "probability": 0.2},
        {"code": "U+304B", "char": "か", "probability": 0.1},
    ]
    assert [(c["code"], c["char"], c["probability"]) for c in second["candidates"]] == [
        ("U+304B", "か", 0.3),
        ("U+3042", "a", 0.6),
        ("U+1B002", "\U0001b002", 0.1),
    ]
    assert second["candidates"][0]["code"] == second["code"] and second["class_probability"] == 0.3
    assert (first["uncertain"], second["uncertain"]) == (False, True)
    assert record["cls_threshold"] == 0.5 and record["columns"] == ["aか"]


def test_a_result_without_top_k_gives_the_own_class_alone():
    result = _result([["U+3042"]], [[0.4]], [0.4])
    del result[TOPK_CODEPOINTS], result[TOPK_PROBS]
    (char,) = page_record("p", result, {}, cls_threshold=0.4)["characters"]
    assert char["candidates"] == [{"code": "U+3042", "char": "あ", "probability": 0.4}]
    assert char["uncertain"] is False  # 0.4 reaches 0.4: the threshold keeps its own value, as `confident` does


# ---- with the tiny exported recogniser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    from kuzushiji_tf.backends.loading import load_page_model

    return load_page_model(tiny_recognizer)


@pytest.mark.slow
def test_json_page_xml_and_alto_carry_the_same_candidates(model, schemas):
    from kuzushiji_tf.recognition.postprocess import page_results
    from kuzushiji_tf.scans import encoded_size

    scan = REAL_PAGES[0]
    data = scan.read_bytes()
    result = page_results(model([data]))
    record = page_record(
        scan.name, result, dict(model.vocabulary), size=encoded_size(data), cls_threshold=model.options.cls_threshold
    )
    source = PageSource.from_record(record, created="2026-12-07T00:00:00Z")
    chars = json.loads(json_record.render(record, source))["characters"]
    assert len(chars) == len(result[CODES]) > 3 and model.options.top_k == 3
    from_json = [[(chr(int(d["code"][2:], 16)), d["probability"]) for d in c["candidates"]] for c in chars]
    assert all(
        len(c) == 3 and c[0] == (chars[k]["char"], chars[k]["class_probability"]) for k, c in enumerate(from_json)
    )

    page_root = etree.fromstring(page_xml.render(record, source).encode("utf-8"))
    assert schemas["page"].validate(page_root), schemas["page"].error_log
    from_page = []
    for glyph in page_root.iterfind(".//pc:Glyph", PC):
        equivs = sorted(glyph.findall("pc:TextEquiv", PC), key=lambda e: int(e.get("index")))
        from_page.append([(e.findtext("pc:Unicode", namespaces=PC), float(e.get("conf"))) for e in equivs])

    alto_root = etree.fromstring(alto.render(record, source).encode("utf-8"))
    assert schemas["alto"].validate(alto_root), schemas["alto"].error_log
    from_alto = [
        [(g.get("CONTENT"), float(g.get("GC")))]
        + [(v.get("CONTENT"), float(v.get("VC"))) for v in g.iterfind("a:Variant", AL)]
        for g in alto_root.iterfind(".//a:Glyph", AL)
    ]

    for other in (from_page, from_alto):
        assert [[char for char, _ in c] for c in other] == [[char for char, _ in c] for c in from_json]
        assert [[p for _, p in c] for c in other] == [pytest.approx([p for _, p in c], abs=1e-4) for c in from_json]


@pytest.mark.slow
def test_research_outputs_keep_what_the_kaggle_submission_drops(tiny_recognizer, model, tmp_path, capsys):
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.cli import make_submission, recognize
    from kuzushiji_tf.datasets.kaggle_submission import read_submission
    from kuzushiji_tf.recognition.postprocess import page_results

    data = make_kaggle_dir(tmp_path / "kaggle", test_ids=("test_a", "test_b"))
    images = sorted((data / "test_images").glob("*.jpg"))
    found = {path.stem: page_results(model([path.read_bytes()])) for path in images}
    threshold = splitting_threshold(np.concatenate([r[CLASS_PROBS] for r in found.values()]))
    unsure = with_cls_threshold(tiny_recognizer, threshold, tmp_path / "models")
    assert load_page_model(unsure).options.cls_threshold == threshold

    out = tmp_path / "ocr"
    # Each character read alone, so the JSON's readings are the graph's own (context would re-choose some).
    alone = ["--quiet", "--no-context"]
    assert recognize.main([str(data / "test_images"), "--out", str(out), "--model", str(unsure), *alone]) == 0
    submission = tmp_path / "submission.csv"
    args = ["--model", str(unsure), "--data-dir", str(data), "--out", str(submission), *alone]
    assert make_submission.main(args) == 0
    rows = read_submission(submission, expected_ids=["test_a", "test_b"])

    flagged = kept = 0
    for image_id, result in found.items():
        record = json.loads((out / f"{image_id}.jpg.json").read_text(encoding="utf-8"))
        chars = record["characters"]
        assert record["cls_threshold"] == round(threshold, 4)
        # Research output: every detection, the ones below the class threshold flagged.
        assert len(chars) == len(result[CODES])
        # Matched to the recogniser's own entries by box: the JSON rounds the probabilities.
        raw = {tuple(round(float(v), 1) for v in box): p for box, p in zip(result[OUT_BOXES], result[CLASS_PROBS])}
        below = [bool(raw[tuple(c["box"])] < np.float32(threshold)) for c in chars]
        assert [c["uncertain"] for c in chars] == below
        sure = [c for c in chars if not c["uncertain"]]
        # Kaggle: exactly the characters that are not uncertain, at their box centres.
        assert Counter(p.code for p in rows[image_id]) == Counter(c["code"] for c in sure)
        assert len(rows[image_id]) == len(sure) == int((result[CLASS_PROBS] >= threshold).sum())
        flagged += len(chars) - len(sure)
        kept += len(sure)
    assert flagged > 0 and kept > 0  # the threshold split the pages: both cases were checked
    capsys.readouterr()
