"""`python -m kuzushiji_tf.train --task detector` end to end on tiny records: outputs, export, resume."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kuzushiji_tf.cli import train

TINY = [
    "--task",
    "detector",
    "--batch-size",
    "2",
    "--steps-per-epoch",
    "2",
    "--backbone",
    "resnet_tiny",
    "--input-size",
    "64",
    "--eval-short-side",
    "128",
    "--eval-every",
    "1",
    "--log-every-steps",
    "1",
    "--optimizer",
    "adamw",
]


@pytest.mark.slow
def test_train_exports_and_resumes(tiny_split_records, tmp_path, capsys):
    out = tmp_path / "det"
    assert train.main(TINY + ["--records", str(tiny_split_records), "--out", str(out), "--epochs", "1"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history[0]["step"] == 2 and "val_det_f1" in history[0]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["backbone"] == "resnet_tiny" and config["train"]["batch_size"] == 2

    served = tf.saved_model.load(str(out / "saved_model"))
    outputs = served.signatures["serving_default"](tf.constant(np.full((1, 64, 96, 3), 200, np.float32)))
    assert {v.shape.as_list()[1:3] == [16, 24] for v in outputs.values()} == {True}

    capsys.readouterr()
    assert train.main(TINY + ["--records", str(tiny_split_records), "--out", str(out), "--epochs", "2"]) == 0
    log = capsys.readouterr().out
    assert "resumed from" in log and "at step 2" in log
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [2]


def test_missing_records_is_a_one_line_error(tmp_path, capsys):
    code = train.main(TINY + ["--records", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--epochs", "1"])
    assert code == 2
    assert "manifest.json is missing: build the records with kuzushiji-build-records" in capsys.readouterr().err


@pytest.mark.slow
def test_float16_trains_on_cpu_with_loss_scaling_and_float32_outputs(tiny_split_records, tmp_path, capsys):
    import keras

    out = tmp_path / "half"
    try:
        code = train.main(
            TINY
            + ["--records", str(tiny_split_records), "--out", str(out), "--epochs", "1", "--mixed-precision", "float16"]
        )
        policy = keras.mixed_precision.dtype_policy().name
    finally:
        keras.mixed_precision.set_dtype_policy("float32")  # the policy is global: later tests expect float32
    assert code == 0 and policy == "mixed_float16"
    assert "mixed_float16" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert np.isfinite(history[0]["train_total"]) and history[0]["step"] == 2
    model = keras.saving.load_model(out / "model.keras")
    assert {layer.name: layer.compute_dtype for layer in model.layers}["upsampler"] == "float16"
    outputs = model(np.full((1, 64, 64, 3), 200, np.float32), training=False)
    # The head's last convolutions run in float32, so the losses see float32 outputs.
    assert {keras.backend.standardize_dtype(v.dtype) for v in outputs.values()} == {"float32"}
    # The loss-scale state is in the checkpoint: the loop wrapped the optimizer in a LossScaleOptimizer.
    names = [name for name, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(out / "checkpoints")))]
    assert any("dynamic_scale" in name for name in names)


def test_lr_drops_without_fractions_is_a_constant_lr():
    from kuzushiji_tf.engine.tasks import make_optimizer

    _, config = train.configs_from_args(
        train.parse_args(TINY + ["--records", "r", "--out", "o", "--lr-drops", "--lr", "0.002"])
    )
    assert config.lr_drops == ()
    optimizer = make_optimizer(config, total_steps=100)
    for step in (0, 60, 99):
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == pytest.approx(0.002)
    _, recipe = train.configs_from_args(train.parse_args(TINY + ["--records", "r", "--out", "o", "--lr", "0.002"]))
    stepped = make_optimizer(recipe, total_steps=100)
    stepped.iterations.assign(99)
    assert float(stepped.learning_rate) == pytest.approx(0.002 * 0.01)
