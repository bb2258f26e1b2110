"""`make demo`'s pipeline end to end at smoke size: every stage runs the real command and the summary
table names each stage's figure. The full-size figures are in the README."""
import json

import pytest

from kuzushiji_tf import demo

SMOKE = ["--pages", "8", "--test-pages", "2", "--books", "4", "--page-height", "640", "--detector-backbone",
         "resnet_tiny", "--detector-steps", "3", "--detector-batch", "2", "--detector-input", "64",
         "--classifier-epochs", "1", "--classifier-crops", "64", "--classifier-input", "32", "--classifier-batch", "16",
         "--finetune-epochs", "1", "--workers", "1"]


@pytest.mark.slow
def test_demo_runs_every_stage_and_prints_the_table(tmp_path, capsys):
    assert demo.main(SMOKE + ["--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    table = out[out.rindex("stage "):]
    for stage in ("synthetic pages", "records", "detector", "classifier", "pseudo-labels", "pseudo-labels (real scans)",
                  "fine-tune", "export", "submission", "real pages: measured", "transcription", "visualisation", "total"):
        assert stage in table
    assert "real pages without labels" in table and "real crops)" in table
    real = json.loads((tmp_path / "demo" / "records" / "synthetic" / "pseudo_real" / "manifest.json").read_text())
    assert real["pages_labelled"] == 6 and not real["skipped"]
    assert "synthetic test F1" in table and "val top-1" in table and "detection F1" in table
    # The real test set is measured (classifier on true boxes, detector, recogniser), never trained on.
    measured = json.loads((tmp_path / "demo" / "real_pages.json").read_text())
    assert measured["characters"] == 464 and {"classifier", "detector", "recognizer"} <= measured.keys()
    assert "classifier top-1" in table and "Kaggle F1" in table
    root = tmp_path / "demo"
    assert (root / "submission.csv").is_file() and (root / "100241706_00005_1.png").is_file()
    assert (root / "saved_models" / "kuzushiji_page" / "1" / "saved_model.pb").is_file()
