"""`kuzushiji-train --task detector|classifier --records records/NAME --out saved_models/NAME`

Flags -> configs -> one custom loop under the chosen tf.distribute strategy. Flags left out take the
task's recipe defaults (`config.py`): the detector's and the classifier's differ, and `--init` (fine-tune a
saved classifier) has its own lr, epochs and lr drops. Rerunning the same command resumes from the last
checkpoint in `--out/checkpoints`. At the end the model is saved as `--out/model.keras` and exported as a
SavedModel in `--out/saved_model` (signature `serving_default`); a classifier's `vocabulary.csv` (class id
-> code) is copied beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.config import CLASSIFIER_TRAIN, ClassifierConfig, DetectorConfig, TrainConfig

PROG = "train"
TRAIN_DEFAULTS = {"detector": TrainConfig(), "classifier": CLASSIFIER_TRAIN}
MODEL_CONFIGS = {"detector": DetectorConfig, "classifier": ClassifierConfig}
# Flags of one task only (dest names); the other task refuses them rather than ignore them.
TASK_FLAGS = {
    "detector": ("backbone", "eval_short_side", "head_channels", "score_threshold"),
    "classifier": ("crops_per_epoch", "alpha", "minimalistic", "dropout"),
}
# Model fields a fine-tune (--init) takes from the saved model's config.json unless given as flags.
INIT_MODEL_FIELDS = {
    "classifier": ("input_size", "alpha", "minimalistic", "dropout"),
    "detector": ("backbone", "input_size", "head_channels", "eval_short_side"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train the CenterNet detector or the MobileNetV3Small classifier. "
        "Flags left out take the task's recipe defaults (kuzushiji_tf/config.py)."
    )
    p.add_argument("--task", choices=tuple(TRAIN_DEFAULTS), required=True)
    p.add_argument("--records", required=True, help="records folder from kuzushiji-build-records")
    p.add_argument("--out", required=True, help="output folder: checkpoints, logs, model.keras, saved_model")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch")
    p.add_argument("--lr", type=float, help="classifier: 0.1, or 0.01 with --init")
    p.add_argument("--optimizer", choices=("sgd", "adamw"))
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--clip-norm", type=float)
    p.add_argument(
        "--lr-drops", type=float, nargs="*", help="fractions of training where lr is multiplied by --lr-drop-factor"
    )
    p.add_argument("--lr-drop-factor", type=float)
    p.add_argument("--steps-per-epoch", type=int, help="0: pages (detector) or crops per epoch (classifier) / batch")
    p.add_argument("--eval-every", type=int, help="epochs between validation runs")
    p.add_argument("--checkpoint-every-steps", type=int)
    p.add_argument("--log-every-steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--strategy", choices=("auto", "default", "mirrored", "multi_worker"))
    p.add_argument("--mixed-precision", choices=("auto", "off", "float16", "bfloat16"))
    p.add_argument("--input-size", type=int, help="detector: training crop side (416); classifier: crop side (112)")
    p.add_argument(
        "--worker-weights",
        metavar="DIR",
        help="every worker also writes its final weights to DIR/worker-K.weights.h5, to check that "
        "the workers of a multi-worker run agree",
    )
    detector = p.add_argument_group("detector")
    detector.add_argument("--backbone")
    detector.add_argument("--eval-short-side", type=int)
    detector.add_argument("--head-channels", type=int)
    detector.add_argument("--score-threshold", type=float)
    p.add_argument(
        "--init",
        help="start from a saved model of the same task: its model.keras or its --out folder, or `shipped` "
        "(the shipped model's; a classifier of another vocabulary keeps the rows of the codes both hold)",
    )
    p.add_argument(
        "--pseudo",
        nargs="+",
        metavar="DIR",
        help="folder(s) of pseudo-labelled records mixed into training, pooled: crops for the classifier "
        "(synthetic test pages, real scans), pages for the detector (real scans, "
        "kuzushiji-pseudo-label --images)",
    )
    p.add_argument("--pseudo-ratio", type=float, help="pseudo crops per training crop, or pages per page (0.5)")
    classifier = p.add_argument_group("classifier")
    classifier.add_argument("--crops-per-epoch", type=int, help="training crops sampled per epoch (20000)")
    classifier.add_argument("--alpha", type=float, help="MobileNetV3Small width multiplier (1.0)")
    classifier.add_argument("--minimalistic", action=argparse.BooleanOptionalAction)
    classifier.add_argument("--dropout", type=float)
    args = p.parse_args(argv)
    for task, names in TASK_FLAGS.items():
        given = [name for name in names if getattr(args, name) is not None]
        if task != args.task and given:
            p.error(f"--{given[0].replace('_', '-')} is a {task} flag; received it with --task {args.task}")
    if args.pseudo_ratio is not None and args.pseudo is None:
        p.error("--pseudo-ratio sets how many --pseudo crops are mixed in; received it without --pseudo")
    return args


def _given(args, names) -> dict:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _init_model_fields(init: str, task: str = "classifier") -> dict:
    """Model fields from the config.json beside a saved model, so a fine-tune rebuilds the same net."""
    folder = Path(init) if Path(init).is_dir() else Path(init).parent
    path = folder / "config.json"
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    if saved.get("task") != task:
        raise ValueError(f"--init {init}: {path} is a {saved.get('task')!r} run, not a {task}")
    return {name: saved["model"][name] for name in INIT_MODEL_FIELDS[task] if name in saved.get("model", {})}


def configs_from_args(args) -> tuple[DetectorConfig | ClassifierConfig, TrainConfig]:
    model_cls = MODEL_CONFIGS[args.task]
    model_fields = {f.name for f in dataclasses.fields(model_cls)}
    train = TRAIN_DEFAULTS[args.task]
    model = model_cls()
    if args.init is not None:
        model = dataclasses.replace(model, **_init_model_fields(args.init, args.task))
        if args.task == "classifier":
            train = dataclasses.replace(
                train, lr=model.fine_tune_lr, epochs=model.fine_tune_epochs, lr_drops=model.fine_tune_lr_drops
            )
    model = dataclasses.replace(model, **_given(args, model_fields))
    overrides = _given(args, [f.name for f in dataclasses.fields(TrainConfig)])
    if "lr_drops" in overrides:
        overrides["lr_drops"] = tuple(overrides["lr_drops"])
    return model, dataclasses.replace(train, **overrides)


def run(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.data.records import VOCABULARY, write_vocabulary
    from kuzushiji_tf.engine import strategy as strategies
    from kuzushiji_tf.engine.loop import LoopConfig
    from kuzushiji_tf.engine.loop import train as train_loop
    from kuzushiji_tf.engine.tasks import TASKS, make_optimizer

    model_config, train = configs_from_args(args)
    strategy = strategies.make_strategy(train.strategy)  # first: multi-worker must configure the runtime
    policy = strategies.set_precision(train.mixed_precision)
    options = {"init": args.init, "pseudo_dir": args.pseudo}
    task = TASKS[args.task](args.records, model_config, train, **options)
    steps_per_epoch = train.steps_per_epoch or max(1, task.examples_per_epoch // train.batch_size)
    out = Path(args.out)
    chief = strategies.is_chief(strategy)
    if chief:
        out.mkdir(parents=True, exist_ok=True)
        run_config = {
            "task": args.task,
            "records": str(args.records),
            "model": dataclasses.asdict(model_config),
            "train": dataclasses.asdict(train),
            "precision_policy": policy,
            "replicas": strategy.num_replicas_in_sync,
        }
        if args.task == "classifier":
            write_vocabulary(out / VOCABULARY, task.vocabulary)  # the records', and --init's classes they lack
            # One folder is written as a string, as before several could be given.
            pseudo = args.pseudo[0] if args.pseudo and len(args.pseudo) == 1 else args.pseudo
            run_config.update(classes=task.num_classes, vocabulary=VOCABULARY)
        else:
            pseudo = args.pseudo
        run_config.update(pseudo=pseudo, init=str(task.init_file) if task.init_file else None)
        (out / "config.json").write_text(json.dumps(run_config, indent=2))
    unit = "training pages" if args.task == "detector" else "crops"
    print(
        f"{args.task}: {task.examples_per_epoch} {unit} per epoch, {steps_per_epoch} steps/epoch x {train.epochs} "
        f"epochs, global batch {train.batch_size} on {strategy.num_replicas_in_sync} replica(s), {policy}",
        flush=True,
    )
    if getattr(task, "init_file", None) is not None:
        print(f"initial weights from {task.init_file} (a checkpoint in --out, if any, wins)", flush=True)
        note = task.vocabulary_note() if hasattr(task, "vocabulary_note") else None
        if note:
            print(note, flush=True)
    loop = LoopConfig(
        epochs=train.epochs,
        steps_per_epoch=steps_per_epoch,
        out_dir=str(out),
        log_every_steps=train.log_every_steps,
        checkpoint_every_steps=train.checkpoint_every_steps,
        eval_every_epochs=train.eval_every,
    )
    model, history = train_loop(
        task, strategy, loop, lambda total: make_optimizer(train, total), log=lambda line: print(line, flush=True)
    )
    if args.worker_weights:
        Path(args.worker_weights).mkdir(parents=True, exist_ok=True)
        model.save_weights(str(Path(args.worker_weights) / f"worker-{strategies.worker_index(strategy)}.weights.h5"))
    export_dir = strategies.writable_dir(str(out), strategy)
    model.save(str(Path(export_dir) / "model.keras"))
    model.export(str(Path(export_dir) / "saved_model"), format="tf_saved_model", verbose=False)
    if not chief:  # every worker must save (collectives), but only the chief's copy is kept
        shutil.rmtree(export_dir, ignore_errors=True)
    strategies.wait_for_workers(strategy)
    if chief:
        (out / "history.json").write_text(json.dumps(history, indent=1))
        print(f"saved {out / 'model.keras'} and SavedModel {out / 'saved_model'}", flush=True)
    return history[-1] if history else {}


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.init is not None:
            from kuzushiji_tf.pretrained import training_folder

            args.init = training_folder(args.init, args.task)
        run(args)
    except (FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
