"""`make demo`'s pipeline end to end at smoke size: every stage runs the real command and the summary
table names each stage's figure. The full-size figures are in the README."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kuzushiji_tf.cli import demo
from kuzushiji_tf.pretrained import shipped_model_available

SMOKE = [
    "--pages",
    "8",
    "--test-pages",
    "2",
    "--books",
    "4",
    "--page-height",
    "640",
    "--detector-backbone",
    "resnet_tiny",
    "--detector-steps",
    "3",
    "--detector-batch",
    "2",
    "--detector-input",
    "64",
    "--classifier-epochs",
    "1",
    "--classifier-crops",
    "64",
    "--classifier-input",
    "32",
    "--classifier-batch",
    "16",
    "--finetune-epochs",
    "1",
    "--workers",
    "1",
]


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*"))


def test_demo_runs_from_any_folder_and_prints_the_console_commands(tmp_path, monkeypatch, capsys):
    # `make demo` from elsewhere: no path of the repository is needed, the sample data comes from the package.
    monkeypatch.chdir(tmp_path)
    assert demo.SAMPLE_DIR.is_dir() and (demo.SAMPLE_DIR / "train.csv").is_file() and demo.FORMATS_PAGE.is_file()
    result = subprocess.run([sys.executable, "-m", "kuzushiji_tf.demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--out" in result.stdout and "--models-dir" not in result.stdout, result.stderr
    # A stage prints the command a user types and runs the same command's module in the current directory.
    (tmp_path / "truth.csv").write_text("image_id,labels\npage,U+3042 10 10 20 20\n")
    (tmp_path / "pred.csv").write_text("image_id,labels\npage,U+3042 20 20\n")
    log = demo.Stages().run("score", "evaluate", ["--truth", "truth.csv", "--pred", "pred.csv", "--json"])
    assert "$ kuzushiji-evaluate --truth truth.csv --pred pred.csv --json" in capsys.readouterr().out
    assert json.loads(log.strip().splitlines()[-1])["labelled"]["f1"] == 1.0


@pytest.mark.slow
def test_demo_runs_every_stage_and_prints_the_table(tmp_path, capsys):
    # The demo keeps its export in its own folder and passes it as --model: saved_models/ of the current
    # directory stays untouched, and nothing it made could take the shipped model's place in the other commands.
    repo_models = Path.cwd() / "saved_models" / "kuzushiji_page"
    before = _versions(repo_models)
    assert demo.main(SMOKE + ["--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    table = out[out.rindex("stage ") :]
    for stage in (
        "synthetic pages",
        "records",
        "detector",
        "classifier",
        "pseudo-labels",
        "pseudo-labels (real scans)",
        "fine-tune",
        "export",
        "submission",
        "real pages: measured",
        "transcription",
        "visualisation",
        "formats (real page)",
        "real pages: shipped model",
        "total",
    ):
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
    page_model = root / "saved_models" / "kuzushiji_page" / "1"
    assert (page_model / "saved_model.pb").is_file() and _versions(repo_models) == before
    assert f"model: {page_model} (--model)" in out  # the later stages were given it
    shipped = table[table.index("real pages: shipped model") :].splitlines()[0]
    if shipped_model_available():
        assert "classifier top-1" in shipped and "Kaggle F1" in shipped
    else:
        assert "skipped: no model is shipped in" in shipped
    page = demo.FORMATS_PAGE.name
    written = {p.relative_to(root / "formats").as_posix() for p in (root / "formats").rglob("*") if p.is_file()}
    assert written == {
        f"{page}{suffix}" for suffix in (".txt", ".json", ".page.xml", ".alto.xml", ".hocr.html", ".annotations.json")
    } | {"tei.xml", "summary.csv"}
    assert f"8 files in {root / 'formats'}" in table
