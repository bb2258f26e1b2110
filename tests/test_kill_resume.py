"""kill -9 at any moment, then the same command: training continues from its last checkpoint (never from
scratch, never from a half-written one, with a fresh input stream) and build_records finishes into the
manifest of an uninterrupted build."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, make_kaggle_dir
from kuzushiji_tf.cli import train
from kuzushiji_tf.data.records import MANIFEST, RecordOptions, build_records

TINY = [
    "--task",
    "detector",
    "--batch-size",
    "2",
    "--backbone",
    "resnet_tiny",
    "--input-size",
    "64",
    "--eval-short-side",
    "128",
    "--optimizer",
    "adamw",
    "--seed",
    "0",
]


def _kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> list[str]:
    """Reads the process's output lines until `ready(line)`, then SIGKILLs it; returns the lines read."""
    watchdog = threading.Timer(timeout, process.kill)  # a hung child fails the test instead of hanging it
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if ready(line):
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=60)
    finally:
        watchdog.cancel()
    return lines


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_resumes_from_the_checkpoint(tiny_split_records, tmp_path, capsys):
    out = tmp_path / "det"
    args = TINY + [
        "--records",
        str(tiny_split_records),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--steps-per-epoch",
        "6",
        "--checkpoint-every-steps",
        "2",
        "--log-every-steps",
        "1",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "kuzushiji_tf.train", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Step 3's line comes after step 2's checkpoint was saved: the kill lands during step 4 or its save.
    lines = _kill_when(process, lambda line: "step 3/6" in line)
    assert process.returncode == -signal.SIGKILL, "".join(lines[-20:])
    latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
    killed_at = int(latest.rsplit("-", 1)[1])
    assert 2 <= killed_at < 6 and not (out / "history.json").exists()

    capsys.readouterr()
    assert train.main(args) == 0  # the same command line, in this process
    log = capsys.readouterr().out
    assert f"resumed from {latest} at step {killed_at} (epoch 1)" in log
    assert "step 1/6" not in log and "step 6/6" in log
    history = json.loads((out / "history.json").read_text())
    assert [(r["epoch"], r["step"]) for r in history] == [(1, 6)]


def test_a_save_cut_before_its_index_update_leaves_the_previous_checkpoint_latest(tmp_path, monkeypatch):
    """TensorFlow writes the checkpoint data first and the `checkpoint` index (atomically) last: a process
    dying between the two restarts from the previous checkpoint, never from a half-written one."""
    import keras
    from tensorflow.python.checkpoint import checkpoint_management

    from kuzushiji_tf.engine.checkpoints import TrainingCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    saved = TrainingCheckpoint(str(tmp_path), model=model, optimizer=optimizer)
    saved.save(2)
    kernel_at_2 = model.layers[0].kernel.numpy()

    def killed(*args, **kwargs):
        raise SystemExit("killed before the index update")

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", killed)
    model.layers[0].kernel.assign(np.full((2, 1), 7.0, np.float32))
    with pytest.raises(SystemExit):
        saved.save(4)
    monkeypatch.undo()
    assert list(tmp_path.glob("ckpt-4.index"))  # its data reached the disk...
    fresh_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    fresh = TrainingCheckpoint(str(tmp_path), model=fresh_model, optimizer=keras.optimizers.SGD(0.1))
    assert fresh.restore_latest() == 2  # ...but the index still names step 2
    np.testing.assert_array_equal(fresh_model.layers[0].kernel.numpy(), kernel_at_2)


@pytest.mark.slow
def test_a_resumed_run_reads_a_fresh_input_stream(tiny_split_records):
    from kuzushiji_tf.config import DetectorConfig, TrainConfig
    from kuzushiji_tf.engine.tasks import DetectorTask

    task = DetectorTask(
        str(tiny_split_records),
        DetectorConfig(backbone="resnet_tiny", input_size=64),
        TrainConfig(batch_size=2, seed=0),
    )
    context = tf.distribute.InputContext(1, 0, 1)

    def first_images(start_step):
        return next(iter(task.train_dataset(context, start_step)))[0].numpy()

    np.testing.assert_array_equal(first_images(0), first_images(0))  # reproducible for a given step
    assert not np.array_equal(first_images(0), first_images(4))  # but not replayed after a resume


# Three books of 10 pages and 4 test pages at 1024 x 1536: a build of a few seconds in 24 shards.
MANY_PAGES = {
    f"book{b}_{i:05d}_1": [("U+3042", 40 + 30 * i, 60, 200, 240), ("U+3044", 300, 500 + 20 * b, 150, 150)]
    for b in range(3)
    for i in range(10)
}


@pytest.mark.slow
def test_sigkill_mid_build_then_the_same_command_finishes_the_same_records(tmp_path):
    root = make_kaggle_dir(
        tmp_path / "kaggle", pages=MANY_PAGES, test_ids=[f"t{i}" for i in range(4)], size=(1024, 1536)
    )
    options = RecordOptions(num_folds=3, shards=10)
    clean = build_records(root, tmp_path / "clean", options, workers=1, progress=False)
    clean.pop("_run")

    out = tmp_path / "killed"
    command = [
        sys.executable,
        str(REPO / "tools" / "build_records.py"),
        "--data-dir",
        str(root),
        "--out",
        str(out),
        "--num-folds",
        "3",
        "--shards",
        "10",
        "--workers",
        "1",
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / ".state").glob("shard-*.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL, "the build ended before it could be killed"
    assert not (out / MANIFEST).exists()
    finished = {
        path: path.stat().st_mtime_ns
        for state in (out / ".state").glob("shard-*.json")
        for path in (out / name for name in json.loads(state.read_text())["files"])
    }
    assert finished and len(finished) < len(clean["shards"])

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((out / MANIFEST).read_text()) == clean  # no timing fields; same data dir, same options
    assert {path: path.stat().st_mtime_ns for path in finished} == finished  # reused, not rewritten
    assert not list(out.rglob("*.tmp"))
