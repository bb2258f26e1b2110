"""Checkpoints that survive a kill: model, optimizer (with its iteration count, hence the LR schedule's
position) and the global step, through `tf.train.CheckpointManager`.

TensorFlow writes a checkpoint's data files first and updates the `checkpoint` index file last, so a
process killed mid-save leaves the previous checkpoint as the latest: never a half-written one.
"""
from __future__ import annotations

import tensorflow as tf


class TrainingCheckpoint:
    def __init__(self, directory: str, *, model, optimizer, keep: int = 2):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=keep)

    def latest_path(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if there is one; returns its step (0 for a fresh start)."""
        if self.manager.latest_checkpoint is None:
            return 0
        self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        return int(self.step.numpy())

    def save(self, step: int) -> str:
        self.step.assign(step)
        return self.manager.save(checkpoint_number=step)
