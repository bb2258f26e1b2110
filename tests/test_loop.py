"""The custom strategy.run loop: it learns, resumes from its checkpoint, and two replicas equal one device."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TASK = textwrap.dedent('''
    import os, sys, json
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    replicas = int(sys.argv[1])
    if replicas > 1:
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * replicas)
    import keras
    from kuzushiji_tf.engine.loop import LoopConfig, train

    class Regression:
        """y = x.w through a small MLP; the loss is a per-example sum over the global batch."""
        def build_model(self):
            keras.utils.set_random_seed(0)
            return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        def train_dataset(self, context, start_step=0):
            rng = np.random.default_rng(0)
            x = rng.normal(size=(512, 4)).astype("float32")
            y = (x @ np.array([1.0, -2.0, 3.0, 0.5], "float32"))[:, None]
            return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(context.get_per_replica_batch_size(32))
        def model_inputs(self, inputs):
            return inputs
        def normaliser(self, targets):
            return tf.cast(tf.shape(targets)[0], tf.float32)
        def loss(self, targets, outputs, n):
            return {"total": tf.reduce_sum(tf.square(outputs - targets)) / n}
        def evaluate(self, model):
            return {"weight_sum": float(sum(np.abs(w).sum() for w in model.get_weights()))}

    strategy = tf.distribute.MirroredStrategy() if replicas > 1 else tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == replicas
    epochs, out = int(sys.argv[2]), sys.argv[3]
    model, history = train(Regression(), strategy, LoopConfig(epochs=epochs, steps_per_epoch=20, out_dir=out,
                           log_every_steps=1000), lambda n: keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True,
                           global_clipnorm=100.0), log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({"history": history, "weights": [w.tolist() for w in model.get_weights()]}))
''')


def _run(tmp_path, replicas: int, epochs: int, out: str):
    script = tmp_path / "task.py"
    script.write_text(TASK)
    result = subprocess.run(
        [sys.executable, str(script), str(replicas), str(epochs), out], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


@pytest.mark.slow
def test_loop_learns_resumes_and_two_replicas_match_one_device(tmp_path):
    one, _ = _run(tmp_path, 1, 3, str(tmp_path / "one"))
    losses = [epoch["train_total"] for epoch in one["history"]]
    assert losses[-1] < 0.1 * losses[0]

    two, _ = _run(tmp_path, 2, 3, str(tmp_path / "two"))
    for a, b in zip(one["weights"], two["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)

    # Same out dir, more epochs: starts from step 60, not from scratch.
    more, log = _run(tmp_path, 1, 5, str(tmp_path / "one"))
    assert "resumed from" in log and "at step 60" in log
    assert [epoch["epoch"] for epoch in more["history"]] == [4, 5]
    assert more["history"][0]["train_total"] < losses[0] * 0.1
