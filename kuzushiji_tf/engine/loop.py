"""One training loop for every strategy: `strategy.run` with a GradientTape and the Keras optimizer.

Keras 3 `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so the loop users run on a
laptop is this one too. Each replica's loss is a sum over its examples divided by a count all-reduced
over the global batch (objects for the detector, crops for the classifier); the optimizer sums the
replicas' gradients, which makes the step identical to one device seeing the whole batch.

A checkpoint (every `checkpoint_every_steps` and at each epoch's end) holds the model, the optimizer (its
slots and iteration count, hence the LR schedule's position) and the global step. It does not hold the
tf.data position: shuffle buffers of pages are too big to save. A resumed run instead rebuilds its input
seeded from the restored step (`Task.train_dataset(..., start_step)`), so it draws a fresh random stream
rather than replaying the examples of the first steps; the pages left unseen in the interrupted pass are
not made up for. A worker other than the chief saves to a private folder but resumes from the chief's.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import keras
import tensorflow as tf

from kuzushiji_tf.engine.checkpoints import TrainingCheckpoint
from kuzushiji_tf.engine.strategy import is_chief, writable_dir


class Task(Protocol):
    """What the loop needs from a task (detector, classifier)."""

    def build_model(self) -> keras.Model: ...

    def train_dataset(self, input_context: tf.distribute.InputContext, start_step: int = 0) -> tf.data.Dataset:
        """Per-replica batches of (inputs, targets), repeated forever; `start_step` (the step a resumed run
        starts from) goes into the random seeds, so a resumed run does not replay the first steps' examples."""

    def model_inputs(self, inputs):
        """The model's training input from a batch of `train_dataset`, computed on the replica's device
        inside the train step (e.g. the classifier's random crop views); without gradients."""

    def normaliser(self, targets) -> tf.Tensor:
        """This replica's share of the loss denominator (float32 scalar); the loop all-reduces it."""

    def loss(self, targets, outputs, global_normaliser) -> dict[str, tf.Tensor]:
        """Named per-replica loss sums divided by the global normaliser, with a `total` entry."""

    def evaluate(self, model: keras.Model) -> dict[str, float]:
        """Validation metrics on the chief's model."""


@dataclass
class LoopConfig:
    """How long and how the loop runs; optimiser settings come from the task's config."""

    epochs: int
    steps_per_epoch: int
    out_dir: str
    log_every_steps: int = 50
    checkpoint_every_steps: int = 500
    eval_every_epochs: int = 1
    keep_checkpoints: int = 2
    history: list = field(default_factory=list)


def train(
    task: Task,
    strategy: tf.distribute.Strategy,
    config: LoopConfig,
    make_optimizer: Callable[[int], keras.optimizers.Optimizer],
    *,
    log: Callable[[str], None] = print,
) -> tuple[keras.Model, list[dict]]:
    """Trains, checkpointing every `checkpoint_every_steps` and each epoch; resumes from the last checkpoint.

    `make_optimizer(total_steps)` builds the optimizer (with its LR schedule and `global_clipnorm`, which
    the optimizer applies to unscaled gradients under loss scaling) inside the strategy scope.
    Returns the model and the per-epoch history (losses, validation metrics, seconds).
    """
    total_steps = config.epochs * config.steps_per_epoch
    chief = is_chief(strategy)
    with strategy.scope():
        model = task.build_model()
        optimizer = make_optimizer(total_steps)
        if keras.mixed_precision.dtype_policy().name == "mixed_float16":
            # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    chief_checkpoints = str(Path(config.out_dir) / "checkpoints")
    checkpoint_dir = writable_dir(chief_checkpoints, strategy)
    checkpoint = TrainingCheckpoint(
        checkpoint_dir, model=model, optimizer=optimizer, keep=config.keep_checkpoints, restore_dir=chief_checkpoints
    )
    start_step = checkpoint.restore_latest()
    _check_same_start(strategy, start_step)
    if start_step:
        log(
            f"resumed from {checkpoint.latest_path()} at step {start_step} (epoch {start_step // config.steps_per_epoch + 1})"
        )

    dataset = strategy.distribute_datasets_from_function(lambda context: task.train_dataset(context, start_step))
    iterator = iter(dataset)
    num_replicas = strategy.num_replicas_in_sync

    @tf.function
    def train_step(iterator):
        def replica_step(inputs, targets):
            local = tf.cast(task.normaliser(targets), tf.float32)
            context = tf.distribute.get_replica_context()
            global_normaliser = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
            inputs = task.model_inputs(inputs)
            with tf.GradientTape() as tape:
                outputs = model(inputs, training=True)
                losses = task.loss(targets, outputs, global_normaliser)
                total = losses["total"]
                if model.losses:
                    total = total + tf.add_n(model.losses) / num_replicas
                scaled = optimizer.scale_loss(total) if hasattr(optimizer, "scale_loss") else total
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return losses

        inputs, targets = next(iterator)
        per_replica = strategy.run(replica_step, args=(inputs, targets))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    @tf.function
    def sync_statistics():
        # Keras 3 updates a replica's BatchNormalization moving statistics from its own examples only, so
        # the replicas' copies drift apart (and the checkpoint would keep replica 0's). Their mean is exactly
        # the moving average of the replicas' batch statistics (the updates are linear), as tf.keras's
        # MEAN-aggregated statistics were; averaging before each save is enough, since training reads none.
        def replica_sync():
            context = tf.distribute.get_replica_context()
            for variable in model.non_trainable_variables:
                if keras.backend.is_float_dtype(variable.dtype):
                    variable.assign(context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.identity(variable.value)))

        strategy.run(replica_sync)

    def save(step: int) -> None:
        if num_replicas > 1:
            sync_statistics()
        checkpoint.save(step)

    history, step = [], start_step
    log_dir = writable_dir(str(Path(config.out_dir) / "logs"), strategy)
    writer = tf.summary.create_file_writer(log_dir)
    first_epoch = start_step // config.steps_per_epoch
    for epoch in range(first_epoch, config.epochs):
        epoch_start, sums, count = time.perf_counter(), {}, 0
        steps_left = (epoch + 1) * config.steps_per_epoch - step
        for _ in range(steps_left):
            losses = train_step(iterator)
            step += 1
            count += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            if not math.isfinite(float(losses["total"])):
                raise FloatingPointError(f"loss became {float(losses['total'])} at step {step}; lower --lr")
            if step % config.log_every_steps == 0 or step == total_steps:
                rate = count / (time.perf_counter() - epoch_start)
                lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
                log(
                    f"epoch {epoch + 1}/{config.epochs} step {step}/{total_steps} "
                    + " ".join(f"{k} {float(v):.4f}" for k, v in losses.items())
                    + f" lr {lr:.2e} {rate:.2f} steps/s"
                )
                with writer.as_default(step=step):
                    for k, v in losses.items():
                        tf.summary.scalar(f"train/{k}", v)
                    tf.summary.scalar("train/learning_rate", lr)
            if step % config.checkpoint_every_steps == 0 and step % config.steps_per_epoch:
                save(step)
        save(step)
        record = {
            "epoch": epoch + 1,
            "step": step,
            "seconds": round(time.perf_counter() - epoch_start, 2),
            **{f"train_{k}": v / max(count, 1) for k, v in sums.items()},
        }
        if chief and ((epoch + 1) % config.eval_every_epochs == 0 or epoch + 1 == config.epochs):
            metrics = task.evaluate(model)
            record.update({f"val_{k}": v for k, v in metrics.items()})
            with writer.as_default(step=step):
                for k, v in metrics.items():
                    tf.summary.scalar(f"val/{k}", v)
        history.append(record)
        log(json.dumps(record))
    writer.close()
    if not chief:  # the copies a worker only wrote because the collectives need every worker to save
        for private in (checkpoint_dir, log_dir):
            shutil.rmtree(private, ignore_errors=True)
    return model, history


def _check_same_start(strategy: tf.distribute.Strategy, start_step: int) -> None:
    """Workers that restored different steps would run different numbers of collective steps and hang at
    the end: a clear error instead (a worker that cannot read the chief's checkpoint folder starts at 0)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    gather = tf.function(lambda: strategy.gather(strategy.run(lambda: tf.constant([start_step], tf.int64)), axis=0))
    steps = gather().numpy()
    if len(set(steps.tolist())) > 1:
        raise ValueError(
            f"workers restored different checkpoint steps {sorted(set(steps.tolist()))}: every "
            f"worker must read the chief's --out/checkpoints (a shared filesystem)"
        )
