"""`kuzushiji-release-model`: the recipe's stages, the run's state, and a tiny run interrupted and resumed
to the end (every stage the real command, at toy sizes)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kuzushiji_tf.cli import release_model
from kuzushiji_tf.pretrained import verify
from kuzushiji_tf.release.recipe import FULL, TINY, Inputs, final_models, plan
from kuzushiji_tf.user_cache import CACHE_DIR_ENV


def _inputs(tmp_path):
    return Inputs("sample", str(tmp_path / "scans"), ("yuji-mai",))


def test_recipe_stages_read_only_what_earlier_stages_wrote(tmp_path):
    for sizes in (FULL, TINY):
        stages = plan(tmp_path, sizes, _inputs(tmp_path))
        names = [s.name for s in stages]
        assert len(names) == len(set(names))
        written = {str(tmp_path / "scans")}
        for stage in stages:
            # every folder of this run a stage reads (a path argument under --out) was written before it
            for arg in stage.arguments:
                if arg.startswith(str(tmp_path)) and arg != stage.output and not arg.startswith(stage.output):
                    assert any(arg == w or arg.startswith(w + "/") for w in written), (stage.name, arg)
            written.add(stage.output)
        detector, classifier = final_models(stages)
        assert f"detector-ns{sizes.detector_rounds}" == detector
        assert f"classifier-st{sizes.classifier_rounds}" == classifier
        # only the last stages touch the labelled real pages, and only to measure them: the models, then
        # their package as it will ship (float16, rebuilt)
        measured = [s.name for s in stages if s.stem == "measure_real" and "--data-dir" not in s.arguments]
        assert measured == ["real pages", "real pages, package"]
        package = next(s for s in stages if s.stem == "package_model")
        assert package.output == str(tmp_path / "package" / "kuzushiji-reader-1")
        assert package.arguments[package.arguments.index("--detector") + 1].endswith(f"models/{detector}")


def test_full_recipe_is_the_measured_one(tmp_path):
    stages = {s.name: s for s in plan(tmp_path, FULL, _inputs(tmp_path))}
    # noisy students: the student learns from the teacher's pages of the real scans, half and half
    student = stages["detector-ns2"].arguments
    assert student[student.index("--pseudo") + 1].endswith("pseudo/teacher-2")
    assert student[student.index("--pseudo-ratio") + 1] == "0.5"
    teacher = stages["teacher-2"].arguments
    assert "--mirror" in teacher and teacher[teacher.index("--det-unsure") + 1] == "0.2"
    assert [a for a in teacher if a.endswith(("detector-ns1", "detector-a", "detector-b"))]
    # the long classifier run from scratch, then fine-tunes at the lower rate
    assert stages["classifier"].arguments[stages["classifier"].arguments.index("--epochs") + 1] == "64"
    assert "--init" not in stages["classifier"].arguments
    assert "--init" in stages["classifier-st3"].arguments
    # the one hand kept out of every synthetic set
    for name in ("synthetic-1", "synthetic-2", "synthetic-3"):
        args = stages[name].arguments
        assert args[args.index("--exclude-faces") + 1] == "yuji-mai"


def test_scans_of_the_test_pages_books_are_left_out(tmp_path):
    for name in ("100241706_preface.jpg", "200010454_00002_2.jpg", "200021071-00075.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    used, left = release_model.choose_scans([str(tmp_path)])
    assert [p.name for p in used] == ["200010454_00002_2.jpg", "200021071-00075.png"]
    assert [p.name for p in left] == ["100241706_preface.jpg"]
    with pytest.raises(release_model.ReleaseError, match="neither a folder nor a file"):
        release_model.choose_scans([str(tmp_path / "missing")])


def test_a_run_refuses_other_settings(tmp_path):
    release_model.Run(tmp_path, {"seed": 0}).save()
    with pytest.raises(release_model.ReleaseError, match="other settings"):
        release_model.Run(tmp_path, {"seed": 1})
    assert release_model.Run(tmp_path, {"seed": 0}).state["stages"] == {}


def _done(state_file: Path) -> list[str]:
    try:
        return list(json.loads(state_file.read_text())["stages"])
    except (OSError, ValueError):
        return []


@pytest.mark.slow
def test_tiny_run_interrupted_and_resumed_to_the_end(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "kuzushiji_tf.cli.release_model", "--out", str(out), "--tiny", "--workers", "1"]
    # The package stage's measurement rebuilds it into a cache: this test's, not the user's.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", CACHE_DIR_ENV: str(tmp_path / "cache")}
    # First run: killed (its whole process group, as the end of a session does) once the first training
    # stage has finished and the next one is under way.
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(first.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while "detector-a" not in _done(out / release_model.STATE_FILE):
        assert first.poll() is None, b"".join(output).decode()
        assert time.monotonic() < deadline, "the tiny run did not reach its first training stage in 10 min"
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(timeout=120)
    reader.join(timeout=10)
    done_before = _done(out / release_model.STATE_FILE)
    assert done_before[:5] == ["synthetic-1", "records-1", "synthetic-2", "records-2", "detector-a"]
    assert len(done_before) < len(plan(out, TINY, _inputs(out)))
    made = (out / "data" / "synthetic-1" / "synthetic.json").stat().st_mtime_ns

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    state = json.loads((out / release_model.STATE_FILE).read_text())
    stages = plan(out, TINY, _inputs(out))
    assert list(state["stages"]) == [s.name for s in stages] and "finished" in state
    # finished stages were skipped, not redone; the plan said which were done
    assert (out / "data" / "synthetic-1" / "synthetic.json").stat().st_mtime_ns == made
    assert f"{len(done_before)} done" in second.stdout
    for name in done_before:
        assert f"== {name}\n" not in second.stdout
    # the run ends with an export and its figures on the real pages, and a log table of every stage
    assert (Path(stages[-1].extra["export"]) / "assets" / "recognizer.json").is_file()
    real = json.loads((out / "measured" / "real_pages.json").read_text())
    assert real["characters"] == 464 and real["classifier"]["overall"]["count"] == 464
    # ... and with the package that would ship, checked and rebuilt as the commands rebuild it
    assert verify(out / "package" / "kuzushiji-reader-1").values["weights"] == "float16"
    packaged = json.loads((out / "measured" / "real_pages_package.json").read_text())
    assert packaged["characters"] == 464 and {"classifier", "detector", "recognizer"} <= packaged.keys()
    log = (out / release_model.LOG_FILE).read_text()
    assert "| detector-a |" in log and "| real pages |" in log
    assert "interrupted in stage" in log
    synthetic = json.loads((out / "data" / "synthetic-2" / "synthetic.json").read_text())
    assert synthetic["options"]["excluded_faces"] == ["yuji-mai"]
    assert "yuji-mai" not in {f["name"] for f in synthetic["fonts"]}
