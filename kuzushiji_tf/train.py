"""`python -m kuzushiji_tf.train --task detector --records records/NAME --out saved_models/NAME`

Flags -> configs -> one custom loop under the chosen tf.distribute strategy. Rerunning the same command
resumes from the last checkpoint in `--out/checkpoints`. At the end the model is saved as
`--out/model.keras` and exported as a SavedModel in `--out/saved_model` (signature `serving_default`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from kuzushiji_tf.config import DetectorConfig, TrainConfig


def parse_args(argv=None) -> argparse.Namespace:
    train, det = TrainConfig(), DetectorConfig()
    p = argparse.ArgumentParser(description="Train the CenterNet detector (classifier: next).")
    p.add_argument("--task", choices=("detector",), required=True)
    p.add_argument("--records", required=True, help="records folder from tools/build_records.py")
    p.add_argument("--out", required=True, help="output folder: checkpoints, logs, model.keras, saved_model")
    p.add_argument("--epochs", type=int, default=train.epochs)
    p.add_argument("--batch-size", type=int, default=train.batch_size, help="global batch")
    p.add_argument("--lr", type=float, default=train.lr)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=train.optimizer)
    p.add_argument("--momentum", type=float, default=train.momentum)
    p.add_argument("--weight-decay", type=float, default=train.weight_decay)
    p.add_argument("--clip-norm", type=float, default=train.clip_norm)
    p.add_argument("--lr-drops", type=float, nargs="*", default=list(train.lr_drops),
                   help="fractions of training where lr is multiplied by --lr-drop-factor")
    p.add_argument("--lr-drop-factor", type=float, default=train.lr_drop_factor)
    p.add_argument("--steps-per-epoch", type=int, default=train.steps_per_epoch, help="0: pages / batch")
    p.add_argument("--eval-every", type=int, default=train.eval_every, help="epochs between validation runs")
    p.add_argument("--checkpoint-every-steps", type=int, default=train.checkpoint_every_steps)
    p.add_argument("--log-every-steps", type=int, default=train.log_every_steps)
    p.add_argument("--seed", type=int, default=train.seed)
    p.add_argument("--strategy", choices=("auto", "default", "mirrored", "multi_worker"), default=train.strategy)
    p.add_argument("--mixed-precision", choices=("auto", "off", "float16", "bfloat16"), default=train.mixed_precision)
    p.add_argument("--backbone", default=det.backbone)
    p.add_argument("--input-size", type=int, default=det.input_size)
    p.add_argument("--eval-short-side", type=int, default=det.eval_short_side)
    p.add_argument("--head-channels", type=int, default=det.head_channels)
    p.add_argument("--score-threshold", type=float, default=det.score_threshold)
    return p.parse_args(argv)


def configs_from_args(args) -> tuple[DetectorConfig, TrainConfig]:
    det = dataclasses.replace(DetectorConfig(), backbone=args.backbone, input_size=args.input_size,
                              eval_short_side=args.eval_short_side, head_channels=args.head_channels,
                              score_threshold=args.score_threshold)
    train = dataclasses.replace(
        TrainConfig(), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        momentum=args.momentum, weight_decay=args.weight_decay, clip_norm=args.clip_norm,
        lr_drops=tuple(args.lr_drops), lr_drop_factor=args.lr_drop_factor, steps_per_epoch=args.steps_per_epoch,
        eval_every=args.eval_every, checkpoint_every_steps=args.checkpoint_every_steps,
        log_every_steps=args.log_every_steps, seed=args.seed, strategy=args.strategy,
        mixed_precision=args.mixed_precision)
    return det, train


def run(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.engine import strategy as strategies
    from kuzushiji_tf.engine.loop import LoopConfig, train as train_loop
    from kuzushiji_tf.engine.tasks import TASKS, make_optimizer

    det, train = configs_from_args(args)
    policy = strategies.set_precision(train.mixed_precision)
    strategy = strategies.make_strategy(train.strategy)
    task = TASKS[args.task](args.records, det, train)
    steps_per_epoch = train.steps_per_epoch or max(1, task.train_pages // train.batch_size)
    out = Path(args.out)
    chief = strategies.is_chief(strategy)
    if chief:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(
            {"task": args.task, "records": str(args.records), "model": dataclasses.asdict(det),
             "train": dataclasses.asdict(train), "precision_policy": policy,
             "replicas": strategy.num_replicas_in_sync}, indent=2))
    print(f"{args.task}: {task.train_pages} training pages, {steps_per_epoch} steps/epoch x {train.epochs} epochs, "
          f"global batch {train.batch_size} on {strategy.num_replicas_in_sync} replica(s), {policy}", flush=True)
    loop = LoopConfig(epochs=train.epochs, steps_per_epoch=steps_per_epoch, out_dir=str(out),
                      log_every_steps=train.log_every_steps, checkpoint_every_steps=train.checkpoint_every_steps,
                      eval_every_epochs=train.eval_every)
    model, history = train_loop(task, strategy, loop, lambda total: make_optimizer(train, total),
                                log=lambda line: print(line, flush=True))
    export_dir = strategies.writable_dir(str(out), strategy)
    model.save(str(Path(export_dir) / "model.keras"))
    model.export(str(Path(export_dir) / "saved_model"), format="tf_saved_model", verbose=False)
    if chief:
        (out / "history.json").write_text(json.dumps(history, indent=1))
        print(f"saved {out / 'model.keras'} and SavedModel {out / 'saved_model'}", flush=True)
    return history[-1] if history else {}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
