"""The classifier's task and `python -m kuzushiji_tf.train --task classifier` on tiny crop records: an
overfit through the real loop, export, resume, fine-tuning from a saved model with pseudo-labelled crops,
and val classes missing from the training split counted, not crashed on."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_kaggle_dir
from kuzushiji_tf.cli import train
from kuzushiji_tf.config import ClassifierConfig, TrainConfig
from kuzushiji_tf.data.records import RecordOptions, build_records, read_vocabulary
from kuzushiji_tf.engine.loop import LoopConfig
from kuzushiji_tf.engine.loop import train as train_loop
from kuzushiji_tf.engine.tasks import ClassifierTask, make_optimizer
from kuzushiji_tf.models.classifier import build_classifier

# Classes drawn as ink rectangles of distinct shapes (tall, wide, square); U+304F appears only in book A,
# which is the validation fold of 3 (largest books first, ties by name), so it never occurs in training.
TALL, WIDE, SQUARE, VAL_ONLY = "U+3042", "U+3044", "U+304B", "U+304F"
PAGES = {
    "bookA_00001_1": [(TALL, 20, 20, 10, 40), (VAL_ONLY, 100, 100, 20, 20), (WIDE, 150, 250, 40, 10)],
    "bookA_00002_1": [(SQUARE, 60, 60, 30, 30), (VAL_ONLY, 150, 200, 20, 20)],
    "bookB-001": [(TALL, 20, 20, 10, 40), (WIDE, 100, 40, 40, 10), (SQUARE, 180, 100, 30, 30), (TALL, 40, 200, 12, 44)],
    "bookB-002": [(WIDE, 30, 300, 44, 10), (SQUARE, 120, 200, 30, 30), (TALL, 200, 280, 10, 40)],
    "bookC_00001_2": [(TALL, 30, 30, 10, 40), (SQUARE, 120, 60, 30, 30), (WIDE, 60, 200, 40, 10)],
    "bookC_00002_2": [(WIDE, 40, 50, 40, 12), (TALL, 150, 150, 10, 36), (SQUARE, 50, 280, 32, 32)],
}
TINY_MODEL = dict(input_size=32, alpha=0.25, minimalistic=True)
TINY_FLAGS = [
    "--task",
    "classifier",
    "--input-size",
    "32",
    "--alpha",
    "0.25",
    "--minimalistic",
    "--batch-size",
    "4",
    "--crops-per-epoch",
    "8",
    "--eval-every",
    "1",
    "--log-every-steps",
    "1",
]


@pytest.fixture(scope="module")
def crop_records(tmp_path_factory):
    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle"), pages=PAGES, size=(256, 384))
    out = tmp_path_factory.mktemp("records")
    manifest = build_records(root, out, RecordOptions(num_folds=3, crop_size=48), workers=1, progress=False)
    assert manifest["splits"]["train"]["characters"] == 13 and manifest["splits"]["val"]["characters"] == 5
    return out


@pytest.mark.slow
def test_tiny_classifier_overfits_through_the_loop(crop_records, tmp_path):
    config = ClassifierConfig(**TINY_MODEL, dropout=0.0)
    train_config = TrainConfig(epochs=4, batch_size=13, lr=3e-3, optimizer="adamw", weight_decay=0.0)
    task = ClassifierTask(str(crop_records), config, train_config)
    assert task.num_classes == 4 and task.examples_per_epoch == 20_000
    loop = LoopConfig(epochs=4, steps_per_epoch=20, out_dir=str(tmp_path), log_every_steps=1000, eval_every_epochs=4)
    model, history = train_loop(
        task,
        tf.distribute.get_strategy(),
        loop,
        lambda total: make_optimizer(train_config, total),
        log=lambda line: None,
    )
    # From chance (ln 4 = 1.39 for 4 classes) to a quarter of it, under the random train views.
    assert history[-1]["train_total"] < 0.25 * np.log(4) and history[-1]["train_total"] < history[0]["train_total"]
    assert history[-1]["train_accuracy"] > 0.9
    on_train = task.evaluate(model, "train")  # centre views, inference mode (BatchNorm moving statistics)
    assert on_train["top1"] == 1.0 and on_train["crops"] == 13 and on_train["unseen_crops"] == 0
    val = history[-1]
    assert val["val_crops"] == 5 and val["val_unseen_crops"] == 2 and val["val_unseen_classes"] == 1
    assert val["val_top1"] <= 3 / 5  # the two U+304F crops cannot be right
    assert val["val_top5"] == 1.0  # 4 classes: every label is in the top 5


@pytest.mark.slow
def test_train_cli_exports_resumes_and_fine_tunes_with_pseudo_labels(crop_records, tmp_path, capsys):
    out = tmp_path / "cls"
    assert train.main(TINY_FLAGS + ["--records", str(crop_records), "--out", str(out), "--epochs", "1"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "classifier" and config["classes"] == 4
    assert config["model"]["input_size"] == 32 and config["model"]["crops_per_epoch"] == 8
    # Classifier defaults where no flag was given, not the detector's (docs/recipe.md: lr 0.1, weight decay 1e-4).
    assert config["train"]["lr"] == 0.1 and config["train"]["weight_decay"] == 1e-4
    assert config["train"]["batch_size"] == 4
    assert (out / "vocabulary.csv").read_text() == (crop_records / "vocabulary.csv").read_text()
    history = json.loads((out / "history.json").read_text())
    assert history[0]["step"] == 2  # 8 crops per epoch / batch 4
    assert history[0]["val_crops"] == 5 and history[0]["val_unseen_crops"] == 2
    assert 0.0 <= history[0]["val_top1"] <= history[0]["val_top5"] <= 1.0

    served = tf.saved_model.load(str(out / "saved_model"))
    outputs = served.signatures["serving_default"](tf.constant(np.full((2, 32, 32, 3), 200, np.float32)))
    assert set(outputs) == {"logits", "probabilities"}
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (2, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    capsys.readouterr()
    assert train.main(TINY_FLAGS + ["--records", str(crop_records), "--out", str(out), "--epochs", "2"]) == 0
    assert "at step 2" in capsys.readouterr().out
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [2]

    pseudo = tmp_path / "pseudo"  # pseudo-labelled crops: the same schema, any split name, same vocabulary
    pseudo.mkdir()
    for shard in crop_records.glob("crops-val-*.tfrecord"):
        shutil.copy(shard, pseudo / shard.name.replace("crops-val-", "crops-test-"))
    shutil.copy(crop_records / "vocabulary.csv", pseudo)
    tuned = tmp_path / "tuned"
    flags = [
        "--task",
        "classifier",
        "--records",
        str(crop_records),
        "--out",
        str(tuned),
        "--init",
        str(out),
        "--pseudo",
        str(pseudo),
        "--batch-size",
        "4",
        "--crops-per-epoch",
        "8",
        "--epochs",
        "1",
    ]
    assert train.main(flags) == 0
    log = capsys.readouterr().out
    assert f"initial weights from {out / 'model.keras'}" in log and "12 crops per epoch" in log
    config = json.loads((tuned / "config.json").read_text())
    assert config["train"]["lr"] == 0.01 and config["train"]["lr_drops"] == [0.5]  # the fine-tuning recipe
    assert config["model"]["alpha"] == 0.25 and config["model"]["minimalistic"]  # taken from --init's config
    assert config["pseudo"] == str(pseudo)
    assert json.loads((tuned / "history.json").read_text())[0]["step"] == 3  # (8 + 4 pseudo) / 4


def test_init_loads_the_saved_weights_and_needs_the_vocabulary(crop_records, tmp_path, capsys):
    saved = tmp_path / "saved"
    saved.mkdir()
    keras.utils.set_random_seed(5)
    build_classifier(4, **TINY_MODEL).save(saved / "model.keras")
    shutil.copy(crop_records / "vocabulary.csv", saved)
    task = ClassifierTask(
        str(crop_records), ClassifierConfig(**TINY_MODEL), TrainConfig(), init=str(saved / "model.keras")
    )
    loaded = keras.saving.load_model(saved / "model.keras")
    for a, b in zip(task.build_model().get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    (saved / "vocabulary.csv").unlink()
    code = train.main(TINY_FLAGS + ["--records", str(crop_records), "--out", str(tmp_path / "o"), "--init", str(saved)])
    assert code == 2
    assert "no vocabulary.csv, so its class ids cannot be checked" in capsys.readouterr().err


def test_init_of_another_vocabulary_keeps_the_shared_classes_rows(crop_records, tmp_path, capsys):
    """A classifier saved with other records' vocabulary: the codes both hold score a crop exactly as the
    saved model did, a new code starts fresh, a code the records lack is kept after theirs (a fine-tune on
    one book must not forget the rest), and the run says so."""
    records_codes = [code for code, _ in read_vocabulary(crop_records)]
    saved_codes = [records_codes[2], "U+9999", records_codes[0]]  # another order, one code the records lack
    saved = tmp_path / "saved"
    saved.mkdir()
    keras.utils.set_random_seed(7)
    source = build_classifier(len(saved_codes), **TINY_MODEL)
    source.save(saved / "model.keras")
    (saved / "vocabulary.csv").write_text(
        "class_id,code,char\n" + "".join(f"{i},{code},x\n" for i, code in enumerate(saved_codes))
    )
    task = ClassifierTask(str(crop_records), ClassifierConfig(**TINY_MODEL), TrainConfig(), init=str(saved))
    note = task.vocabulary_note()
    assert "(3 classes) differs from the records' (4): 2 classes keep their trained weights, 2 start" in note
    assert task.codes == records_codes + ["U+9999"] and task.num_classes == 5
    model = task.build_model()
    side = TINY_MODEL["input_size"]
    crops = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3))
    before, after = source(crops, training=False)["logits"], model(crops, training=False)["logits"]
    np.testing.assert_allclose(after[:, 0], before[:, 2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(after[:, 2], before[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(after[:, 4], before[:, 1], rtol=1e-5, atol=1e-5)  # kept, not in the records
    assert not np.allclose(model.get_layer("logits").get_weights()[0][:, 1], 0.0)  # a new class: fresh, not zero

    out = tmp_path / "o"
    flags = TINY_FLAGS + ["--records", str(crop_records), "--out", str(out), "--init", str(saved), "--epochs", "1"]
    assert train.main(flags) == 0
    log = capsys.readouterr().out
    assert "2 classes keep their trained weights, 2 start fresh, 1 of its classes the records lack is kept" in log
    assert [code for code, _ in read_vocabulary(out)] == records_codes + ["U+9999"]
    assert keras.saving.load_model(out / "model.keras").get_layer("logits").get_weights()[1].shape == (5,)
    # A second round from it on the same records: the same 5 classes, loaded as they are.
    again = ClassifierTask(str(crop_records), ClassifierConfig(**TINY_MODEL), TrainConfig(), init=str(out))
    assert again.codes == records_codes + ["U+9999"] and again.vocabulary_note() is None


def test_flags_of_the_other_task_are_refused(tmp_path, capsys):
    for flags in (["--backbone", "resnet18"], ["--pseudo-ratio", "0.3"]):
        with pytest.raises(SystemExit) as error:
            train.parse_args(["--task", "classifier", "--records", "r", "--out", "o", *flags])
        assert error.value.code == 2
    err = capsys.readouterr().err
    assert "--backbone is a detector flag" in err and "without --pseudo" in err
    for flags in (["--alpha", "0.5"], ["--pseudo-ratio", "1.0"]):
        with pytest.raises(SystemExit):
            train.parse_args(["--task", "detector", "--records", "r", "--out", "o", *flags])
    err = capsys.readouterr().err
    assert "--alpha is a classifier flag" in err and "without --pseudo" in err
    # Fine-tuning and self-training flags serve both tasks.
    args = train.parse_args(
        ["--task", "detector", "--records", "r", "--out", "o", "--init", "m.keras", "--pseudo", "p"]
    )
    assert args.init == "m.keras" and args.pseudo == ["p"]
