"""The benchmarks' --quick defaults: what a fresh clone (no saved_models/, no trained models, no --out)
needs for `python benchmarks/<name>.py --quick` to start. Only the argument parsing and the model lookup
are tested here (about a second, no TensorFlow); the runs themselves take minutes (docs/benchmarks.md); one end-to-end timing of a tiny export is run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def bench(name: str):
    """benchmarks/<name>.py as a module (the folder is not a package: its scripts import `common`)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def test_beam_recognition_quick_needs_no_model():
    module = bench("beam_recognition")
    quick = module.parse_args(["--quick"])
    assert quick.model is None and quick.quick_format == "onnx"
    assert (quick.small, quick.pages) == (2, 8)
    full = module.parse_args([])
    assert (full.small, full.pages) == (7, 42)


def test_beam_and_serving_refuse_to_run_without_a_model_only_without_quick(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no saved_models/ here, as in a fresh clone
    common = bench("common")
    assert common.newest_page_model() is None
    beam, serving = bench("beam_recognition"), bench("serving")
    with pytest.raises(SystemExit, match="--quick"):
        beam.resolve_model(beam.parse_args([]), tmp_path)
    with pytest.raises(SystemExit, match="--quick"):
        serving.resolve_models(serving.parse_args([]), [], tmp_path)


def test_serving_quick_needs_no_model():
    args = bench("serving").parse_args(["--quick"])
    assert args.model is None and args.onnx is None


def test_onnx_vs_savedmodel_quick_needs_no_models():
    module = bench("onnx_vs_savedmodel")
    quick = module.parse_args(["--quick"])
    assert quick.detector is None and quick.classifier is None
    assert quick.cls_threshold == 0.0  # untrained: every character comes out
    trained = module.parse_args(["--detector", "det", "--classifier", "cls"])
    assert trained.cls_threshold == 0.5 and trained.rounds == 2
    for argv in ([], ["--quick", "--detector", "det"]):
        with pytest.raises(SystemExit):
            module.parse_args(argv)


def test_real_ablation_quick_needs_no_out_and_measures_the_bundled_pages():
    module = bench("real_ablation")
    quick = module.parse_args(["--quick"])
    assert quick.out is None and quick.rows == module.QUICK_ROWS
    assert (Path(quick.data_dir) / "train.csv").is_file()
    full = module.parse_args(["--out", "ablation"])
    assert full.rows == ";".join(row[1] for row in module.ROWS) and full.pages == 160
    # The four rows that add the generator's features draw i.i.d. characters, as they did; one more writes real text.
    assert [row[3] for row in module.ROWS] == ["iid"] * 4 + ["sample"] and module.ROWS[-1][2] == "all"
    with pytest.raises(SystemExit):
        module.parse_args([])


def test_extras_resolution_takes_quick_and_resolves_a_copy(tmp_path):
    module = bench("extras_resolution")
    assert module.parse_args(["--quick"]).extra == "beam"
    project = module.project_copy(tmp_path)
    assert all((project / name).is_file() for name in module.METADATA_FILES)


@pytest.mark.slow
def test_page_recognition_times_exports_end_to_end_on_the_real_pages(tiny_recognizer, capsys):
    module = bench("page_recognition")
    args = module.parse_args(["--model", str(tiny_recognizer), "--rounds", "1"])
    assert module.real_pages_speed(args) == 0
    out = capsys.readouterr().out
    assert "5 labelled pages" in out and "6 unlabelled scans" in out and "NDL Kotenseki OCR-Lite: 2.9 s/page" in out
