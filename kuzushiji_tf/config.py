"""The recipe's defaults in one place (REFERENCE "The 8th-place recipe"); flags override fields with
`dataclasses.replace`. Only `train.py`, `engine/tasks.py` and `tools/` read these objects."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorConfig:
    backbone: str = "resnet18"  # REFERENCE: ResNet18-style, trained from scratch
    input_size: int = 416  # REFERENCE: random crops resized to 416x416
    eval_short_side: int = 832  # REFERENCE: inference at short side 832
    max_chars: int = 512  # target slots per training crop (a crop holds < ~300 characters)
    head_channels: int = 64
    score_threshold: float = 0.3  # REFERENCE: submission threshold on the detector's score
    nms_iou: float = 0.5  # REFERENCE: NMS at IoU 0.5
    max_detections: int = 1200  # Kaggle's cap per page


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 700  # REFERENCE: 700 epochs over the pages (about 170k steps at batch 16)
    batch_size: int = 16  # global batch
    lr: float = 1e-3
    optimizer: str = "sgd"  # REFERENCE: SGD, Nesterov momentum 0.9; `adamw` converges faster in short CPU runs
    momentum: float = 0.9
    weight_decay: float = 1e-5
    clip_norm: float = 100.0  # REFERENCE: global-norm clip 100
    lr_drops: tuple[float, ...] = (0.5, 0.75)  # REFERENCE: lr x0.1 at 50% and 75% of training
    lr_drop_factor: float = 0.1
    steps_per_epoch: int = 0  # 0: training pages / batch size (an epoch "over the pages")
    eval_every: int = 10  # epochs between validation F1 runs
    checkpoint_every_steps: int = 500
    log_every_steps: int = 20
    seed: int = 0
    strategy: str = "auto"
    mixed_precision: str = "auto"
