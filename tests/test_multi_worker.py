"""Two workers on 127.0.0.1 through tools/launch_local_cluster.py: they end with the same weights and follow
the loss curve of one process whose two replicas read the two workers' input pipelines; the launcher's
supervision (prefixes, one failure stops all) on stub workers."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from conftest import REPO, make_kaggle_dir
from kuzushiji_tf.data.records import RecordOptions, build_records
from kuzushiji_tf.engine import local_cluster

TRAIN_ARGS = [
    "--task",
    "detector",
    "--backbone",
    "resnet_tiny",
    "--input-size",
    "64",
    "--eval-short-side",
    "128",
    "--batch-size",
    "4",
    "--steps-per-epoch",
    "3",
    "--epochs",
    "1",
    "--optimizer",
    "adamw",
    "--seed",
    "0",
    "--log-every-steps",
    "1",
]
STEP_LOSS = re.compile(r"step (\d+)/\d+ .* total ([0-9.]+) lr")

# One process, MirroredStrategy over two logical CPUs, whose single input pipeline alternates the batches
# of the two workers' pipelines (InputContext 0 and 1 of 2): the distributed iterator hands consecutive
# elements to replicas 0 and 1, so each replica sees exactly what the worker of the same index sees.
REFERENCE = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)
    from kuzushiji_tf.cli import train
    from kuzushiji_tf.engine import strategy as strategies
    from kuzushiji_tf.engine.loop import LoopConfig, train as train_loop
    from kuzushiji_tf.engine.tasks import DetectorTask, make_optimizer

    args = train.parse_args(sys.argv[1:])
    model_config, train_config = train.configs_from_args(args)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    strategies.set_precision(train_config.mixed_precision)
    task = DetectorTask(args.records, model_config, train_config)
    worker_datasets = task.train_dataset

    def as_two_workers(context, start_step=0):
        assert context.num_input_pipelines == 1 and context.num_replicas_in_sync == 2
        pipelines = [worker_datasets(tf.distribute.InputContext(2, k, 2), start_step) for k in (0, 1)]
        return tf.data.Dataset.choose_from_datasets(pipelines, tf.data.Dataset.range(2).repeat())

    task.train_dataset = as_two_workers
    loop = LoopConfig(epochs=train_config.epochs, steps_per_epoch=train_config.steps_per_epoch, out_dir=args.out,
                      log_every_steps=1, checkpoint_every_steps=train_config.checkpoint_every_steps)
    model, _ = train_loop(task, strategy, loop, lambda total: make_optimizer(train_config, total),
                          log=lambda line: print(line, flush=True))
    os.makedirs(args.worker_weights, exist_ok=True)
    model.save_weights(os.path.join(args.worker_weights, "reference.weights.h5"))
""")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle"), size=(256, 384))
    out = tmp_path_factory.mktemp("records")
    # 4 training pages in 4 shards: each of 2 workers reads 2 whole files.
    build_records(root, out, RecordOptions(num_folds=3, shards=4), workers=1, progress=False)
    return out


def _weights(path) -> dict:
    values = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: values.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return values


def _step_losses(log: str, prefix: str = "") -> list[float]:
    return [
        float(m.group(2)) for line in log.splitlines() if line.startswith(prefix) for m in [STEP_LOSS.search(line)] if m
    ]


@pytest.mark.slow
def test_two_workers_agree_and_follow_one_process_with_their_two_pipelines(records, tmp_path):
    dumps = tmp_path / "weights"
    script = tmp_path / "reference.py"
    script.write_text(REFERENCE)
    # The reference runs beside the cluster: on a busy machine three processes get more CPU than one.
    with open(tmp_path / "reference.log", "w") as reference_log:
        reference = subprocess.Popen(
            [
                sys.executable,
                str(script),
                *TRAIN_ARGS,
                "--records",
                str(records),
                "--out",
                str(tmp_path / "one"),
                "--worker-weights",
                str(dumps),
            ],
            stdout=reference_log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        # Its own session, so that a timeout can stop the launcher and its workers together.
        cluster = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tools" / "launch_local_cluster.py"),
                "--workers",
                "2",
                "--",
                *TRAIN_ARGS,
                "--records",
                str(records),
                "--out",
                str(tmp_path / "two"),
                "--worker-weights",
                str(dumps),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        try:
            log, _ = cluster.communicate(timeout=400)
            reference.wait(timeout=300)
        finally:
            if cluster.poll() is None:
                os.killpg(cluster.pid, signal.SIGKILL)
            if reference.poll() is None:
                reference.kill()
    assert cluster.returncode == 0, log[-4000:]
    assert "2 replica(s)" in log and "[cluster] 2 worker(s) finished" in log
    assert (tmp_path / "two" / "model.keras").is_file()  # the chief's; worker 1 wrote only a private copy
    curves = [_step_losses(log, f"[worker {k}]") for k in (0, 1)]
    assert len(curves[0]) == 3 and curves[0] == curves[1]  # both log the all-reduced loss

    # Trainable weights and (averaged before saving) BatchNorm statistics: bit for bit the same.
    chief, other = _weights(dumps / "worker-0.weights.h5"), _weights(dumps / "worker-1.weights.h5")
    assert chief.keys() == other.keys() and len(chief) > 50
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)

    reference_out = (tmp_path / "reference.log").read_text()
    assert reference.returncode == 0, reference_out[-4000:]
    # Same examples, same per-replica BatchNorm batches, same global normaliser, and a sum of two values
    # does not depend on its order: measured bit for bit equal (losses and every weight). The tolerances
    # only allow for the log's 4 decimals and for a platform whose kernels are not deterministic.
    np.testing.assert_allclose(curves[0], _step_losses(reference_out), rtol=0, atol=1e-4)
    one = _weights(dumps / "reference.weights.h5")
    for name in chief:
        np.testing.assert_allclose(chief[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_fewer_training_shards_than_workers_is_a_clear_error(records):
    import tensorflow as tf

    from kuzushiji_tf.config import DetectorConfig, TrainConfig
    from kuzushiji_tf.engine.tasks import DetectorTask

    task = DetectorTask(str(records), DetectorConfig(backbone="resnet_tiny", input_size=64), TrainConfig(batch_size=5))
    with pytest.raises(FileNotFoundError, match="found 4 pages-train shard.*need at least 5"):
        task.train_dataset(tf.distribute.InputContext(5, 0, 5))


STUB = (
    "import json, os, sys, time; i = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
    "print('hello', i, flush=True); {body}"
)


def test_cluster_configs_are_loopback_only_and_chief_is_worker_zero():
    ports = local_cluster.free_ports(3)
    assert len(set(ports)) == 3
    configs = [local_cluster.tf_config(ports, k) for k in range(3)]
    assert configs[2] == {
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": 2},
    }
    assert local_cluster.train_command(["--task", "detector"])[-4:] == [
        "--task",
        "detector",
        "--strategy",
        "multi_worker",
    ]
    with pytest.raises(ValueError, match="received --strategy mirrored"):
        local_cluster.train_command(["--strategy", "mirrored"])


def test_one_failing_worker_stops_the_others(monkeypatch, tmp_path):
    # Worker 1 fails at once; worker 0 would run for a minute: it is terminated, the status is worker 1's.
    body = "sys.exit(3) if i == 1 else time.sleep(60)"
    monkeypatch.setattr(local_cluster, "train_command", lambda args: [sys.executable, "-c", STUB.format(body=body)])
    out = tmp_path / "log.txt"
    started = []
    with open(out, "w") as stream:
        status = local_cluster.run_cluster([], 2, grace_seconds=5, out=stream, env=None, on_start=started.extend)
    log = out.read_text()
    assert status == 3
    assert "[worker 0] hello 0" in log and "[worker 1] hello 1" in log
    assert "worker 1 exited with status 3; stopping the others" in log
    assert started[0].returncode is not None and started[0].returncode < 0  # SIGTERM, within the grace period


def test_all_workers_succeeding_is_status_zero_and_each_sees_its_tf_config(monkeypatch, tmp_path):
    body = "print('ports', *json.loads(os.environ['TF_CONFIG'])['cluster']['worker'], flush=True)"
    monkeypatch.setattr(local_cluster, "train_command", lambda args: [sys.executable, "-c", STUB.format(body=body)])
    out = tmp_path / "log.txt"
    with open(out, "w") as stream:
        assert local_cluster.run_cluster([], 2, out=stream) == 0
    log = out.read_text()
    assert "[worker 0] hello 0" in log and "[worker 1] hello 1" in log
    addresses = {line.split(" ", 3)[3] for line in log.splitlines() if " ports " in line}
    assert len(addresses) == 1 and addresses.pop().count("127.0.0.1:") == 2  # one cluster, loopback only


def test_launcher_without_training_arguments_is_a_usage_error(capsys):
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "launch_local_cluster.py"), "--workers", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2 and "no training arguments" in result.stderr


def test_ctrl_c_stops_every_worker(monkeypatch, tmp_path):
    body = "time.sleep(60)"
    monkeypatch.setattr(local_cluster, "train_command", lambda args: [sys.executable, "-c", STUB.format(body=body)])
    started = []

    def interrupted(processes):
        started.extend(processes)
        raise KeyboardInterrupt  # what Ctrl-C raises in the launcher while it waits

    with open(tmp_path / "log.txt", "w") as stream:
        assert local_cluster.run_cluster([], 2, grace_seconds=5, out=stream, on_start=interrupted) == 130
    assert len(started) == 2 and all(process.returncode is not None for process in started)
    assert "interrupted; stopping the workers" in (tmp_path / "log.txt").read_text()
