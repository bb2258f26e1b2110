"""Checkpoints that survive a kill: model, optimizer (with its iteration count, hence the LR schedule's
position) and the global step, through `tf.train.CheckpointManager`.

TensorFlow writes a checkpoint's data files first and updates the `checkpoint` index file last, so a
process killed mid-save leaves the previous checkpoint as the latest: never a half-written one.
"""

from __future__ import annotations

import tensorflow as tf


class TrainingCheckpoint:
    """Saves to `directory`, keeping the newest `keep`; restores from `restore_dir` (default `directory`):
    a non-chief worker saves to a private folder but resumes from the chief's checkpoints."""

    def __init__(self, directory: str, *, model, optimizer, keep: int = 2, restore_dir: str | None = None):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=keep)
        self.restore_dir = restore_dir or directory

    def latest_path(self) -> str | None:
        """The checkpoint a restore would read (its prefix), None when there is none yet."""
        return tf.train.latest_checkpoint(self.restore_dir)

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if there is one; returns its step (0 for a fresh start)."""
        latest = self.latest_path()
        if latest is None:
            return 0
        self.checkpoint.restore(latest).expect_partial()
        return int(self.step.numpy())

    def save(self, step: int) -> str:
        self.step.assign(step)
        return self.manager.save(checkpoint_number=step)
