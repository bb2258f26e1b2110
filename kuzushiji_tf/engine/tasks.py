"""Tasks: the seam between the loop and a model (Model Garden's task idea). A task builds its model and
inputs from its config, names its losses and computes its validation metrics."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kuzushiji_tf.config import DetectorConfig, TrainConfig
from kuzushiji_tf.data.detector_input import detector_dataset
from kuzushiji_tf.data.records import MANIFEST
from kuzushiji_tf.evaluation import Score, count_page
from kuzushiji_tf.inference.detection import detect, to_original_pixels
from kuzushiji_tf.models.centernet import build_centernet, centernet_loss
from kuzushiji_tf.structures import MASK


def read_manifest(records_dir: str | Path) -> dict:
    path = Path(records_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the records with tools/build_records.py first")
    return json.loads(path.read_text())


def make_optimizer(train: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """SGD Nesterov (or AdamW) with the recipe's step schedule: lr x `lr_drop_factor` at each `lr_drops`."""
    boundaries = [max(1, int(total_steps * f)) for f in train.lr_drops]
    values = [train.lr * train.lr_drop_factor ** i for i in range(len(boundaries) + 1)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=train.momentum, nesterov=True,
                                    weight_decay=train.weight_decay, global_clipnorm=train.clip_norm)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=train.weight_decay, global_clipnorm=train.clip_norm)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw'; received {train.optimizer!r}")


class DetectorTask:
    """CenterNet on page records: random 416 crops to train, whole pages at short side 832 to validate."""

    def __init__(self, records_dir: str, model_config: DetectorConfig, train_config: TrainConfig):
        self.records_dir = records_dir
        self.config = model_config
        self.train_config = train_config
        self.manifest = read_manifest(records_dir)

    @property
    def train_pages(self) -> int:
        return self.manifest["splits"]["train"]["pages"]

    def build_model(self) -> keras.Model:
        keras.utils.set_random_seed(self.train_config.seed)
        return build_centernet(self.config.backbone, head_channels=self.config.head_channels)

    def train_dataset(self, input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return detector_dataset(
            self.records_dir, "train", training=True,
            batch_size=input_context.get_per_replica_batch_size(self.train_config.batch_size),
            input_size=self.config.input_size, max_chars=self.config.max_chars,
            seed=self.train_config.seed + input_context.input_pipeline_id, input_context=input_context)

    def normaliser(self, targets) -> tf.Tensor:
        return tf.reduce_sum(targets[MASK])

    def loss(self, targets, outputs, global_normaliser) -> dict:
        return centernet_loss(targets, outputs, num_objects=global_normaliser)

    def evaluate(self, model: keras.Model, split: str = "val") -> dict[str, float]:
        """Detection F1 (labels ignored, Kaggle's point-in-box rule) on whole pages, in scan pixels."""
        if self.manifest["splits"][split]["pages"] == 0:
            return {}
        dataset = detector_dataset(self.records_dir, split, training=False, batch_size=1,
                                   eval_short_side=self.config.eval_short_side, include_meta=True)
        tp = fp = fn = 0
        for image, _, meta in dataset:
            boxes, _ = detect(model, image, score_threshold=self.config.score_threshold,
                              nms_iou=self.config.nms_iou, max_detections=self.config.max_detections)[0]
            predicted = to_original_pixels(boxes, meta["scale"][0]).numpy()
            truth = to_original_pixels(meta["boxes"][0], meta["scale"][0]).numpy()
            points = (predicted[:, :2] + predicted[:, 2:]) / 2
            truth_xywh = np.concatenate([truth[:, :2], truth[:, 2:] - truth[:, :2]], axis=1)
            page = count_page([""] * len(truth), truth_xywh, [""] * len(points), points, ignore_labels=True)
            tp, fp, fn = tp + page[0], fp + page[1], fn + page[2]
        score = Score.from_counts(tp, fp, fn)
        return {"det_f1": score.f1, "det_precision": score.precision, "det_recall": score.recall}


TASKS = {"detector": DetectorTask}
