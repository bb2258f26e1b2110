"""Reading in context as the commands do it: recognize and transcribe read each page through
`read_in_context` with the export's settings unless --no-context; tune-context and export --context carry
the chosen settings into the export."""

import json

import numpy as np
import pytest

from kuzushiji_tf.recognition.contract import CODES, TOPK_CODEPOINTS, TOPK_PROBS
from serving_helpers import REAL_PAGES


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    from kuzushiji_tf.backends.loading import load_page_model

    return load_page_model(tiny_recognizer)


@pytest.mark.slow
def test_recognize_reads_in_context_unless_told_not_to(model, tiny_recognizer, tmp_path):
    from kuzushiji_tf.cli import recognize
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.postprocess import page_results

    scan = REAL_PAGES[0]
    raw = page_results(model([scan.read_bytes()]))
    in_context = read_in_context(raw, model.options)
    for flags, expected in (([], in_context), (["--no-context"], raw)):
        out = tmp_path / ("alone" if flags else "context")
        assert recognize.main([str(scan), "--out", str(out), "--model", str(tiny_recognizer), "--quiet", *flags]) == 0
        record = json.loads((out / f"{scan.name}.json").read_text(encoding="utf-8"))
        chars = sorted(record["characters"], key=lambda c: tuple(c["box"]))
        boxes = [tuple(round(float(v), 1) for v in b) for b in expected["boxes"]]
        by_box = dict(zip(boxes, range(len(boxes))))
        for c in chars:
            i = by_box[tuple(c["box"])]
            assert c["code"] == expected[CODES][i]
            # Context only reorders a character's candidates: the same set, the reading first.
            assert [d["code"] for d in c["candidates"]][0] == c["code"]
            assert sorted(int(d["code"][2:], 16) for d in c["candidates"]) == sorted(raw[TOPK_CODEPOINTS][i].tolist())
            assert sorted(d["probability"] for d in c["candidates"]) == pytest.approx(
                sorted(raw[TOPK_PROBS][i].tolist()), abs=1e-4
            )


def test_tune_context_writes_settings_that_export_reads(tmp_path):
    from kuzushiji_tf.cli import tune_context
    from kuzushiji_tf.measure.context_tuning import Candidates
    from kuzushiji_tf.measure.context_tuning import read_settings as context_settings

    rng = np.random.default_rng(0)
    codepoints = 0x3042 + rng.integers(0, 40, (300, 5))
    probabilities = np.sort(rng.dirichlet(np.ones(5), 300), axis=1)[:, ::-1].astype(np.float32)
    truth = [f"U+{codepoints[i, rng.integers(0, 2)]:04X}" for i in range(300)]
    Candidates(codepoints, probabilities, truth, [np.arange(k, k + 30) for k in range(0, 300, 30)]).save(
        tmp_path / "c.npz"
    )
    out = tmp_path / "context.json"
    assert tune_context.main(["--candidates", str(tmp_path / "c.npz"), "--out", str(out), "--quiet"]) == 0
    tuned = json.loads(out.read_text())
    assert (
        tuned["boxes"] == 300
        and len(tuned["grid"]) > 1
        and tuned["grid"][0]["top1"] == pytest.approx(tuned["top1_context"], abs=1e-4)
    )
    settings = context_settings(str(out))
    assert settings["temperature"] == tuned["temperature"] and settings["lm_weight"] == tuned["context"]["lm_weight"]
    # Measuring the chosen settings again gives the same figure.
    again = tmp_path / "again.json"
    args = ["--candidates", str(tmp_path / "c.npz"), "--settings", str(out), "--out", str(again)]
    assert tune_context.main(args) == 0
    assert json.loads(again.read_text())["top1_context"] == tuned["top1_context"]
    (tmp_path / "bad.json").write_text('{"temperature": 1}')
    with pytest.raises(ValueError, match=r"bad\.json: not a kuzushiji-tune-context settings file"):
        context_settings(str(tmp_path / "bad.json"))
