"""The recipe's defaults in one place (REFERENCE "The 8th-place recipe"); flags override fields with
`dataclasses.replace`. Only the commands (`cli/`) and `engine/tasks.py` read these objects."""
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
    # After NMS, a box with more than this share of its area inside a better box is dropped (1.0: never):
    # a character's separate strokes peak on their own, and IoU is small for a box inside a larger one.
    # 0.3 is the least aggressive share within 0.001 of the best validation F1 of the synthetic pages
    # (0.1-0.5 tried; README, "Training the detector"); the real pages were not used to choose it.
    contained_share: float = 0.3
    max_detections: int = 1200  # Kaggle's cap per page
    pseudo_ratio: float = 0.5  # with --pseudo: pseudo-labelled pages per training page


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


@dataclass(frozen=True)
class ClassifierConfig:
    """The MobileNetV3Small character classifier and its crops (REFERENCE "Classifier", "Pseudo-labels")."""

    input_size: int = 112  # REFERENCE: 112 x 112 crops
    alpha: float = 1.0  # MobileNetV3Small width; REFERENCE's MobileNetV3 Large is replaced by Small here
    minimalistic: bool = False
    dropout: float = 0.2  # the 8th-place model's dropout before its last layer
    # REFERENCE: training windows take 1.1/1.4..1.3/1.4 of the stored crop (1.4 x the box's longer side)
    # per axis with a small shift; validation the centre 1.2/1.4.
    train_crop_range: tuple[float, float] = (1.1 / 1.4, 1.3 / 1.4)
    max_shift: float = 0.05  # window-centre shift, fraction of the stored side (the recipe gives no number)
    eval_crop_fraction: float = 1.2 / 1.4
    crops_per_epoch: int = 20_000  # REFERENCE: an epoch is 20,000 crops sampled with replacement
    pseudo_ratio: float = 0.5  # REFERENCE: 10,000 pseudo-labelled crops per 20,000 training crops
    fine_tune_lr: float = 0.01  # REFERENCE: fine-tuning with pseudo-labels (--init) at lr 0.01
    # The 8th-place code fine-tuned for 100 epochs with one lr drop at 50 % (scripts/finetune_classifier.py).
    fine_tune_epochs: int = 100
    fine_tune_lr_drops: tuple[float, ...] = (0.5,)
    eval_batch_size: int = 256


# REFERENCE: SGD Nesterov lr 0.1, weight decay 1e-4, batch 192, lr x0.1 at 50 % and 75 %. 900 epochs of
# 20,000 crops: the 8th-place classifier was its `model_900` (README of the seed repository).
CLASSIFIER_TRAIN = TrainConfig(epochs=900, batch_size=192, lr=0.1, weight_decay=1e-4)
