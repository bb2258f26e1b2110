"""The recipe's defaults in one place (docs/recipe.md "The 8th-place recipe"); flags override fields with
`dataclasses.replace`. Only the commands (`cli/`) and `engine/tasks.py` read these objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Shared constants, each defined here once.
# The bundled real samples: 5 labelled Kaggle pages (the real test set) with the class table, and 6 real
# scans without labels (for self-training), and public-domain classical text the synthetic pages are written
# with (its SOURCES.md).
SAMPLE_KAGGLE_DIR = Path(__file__).resolve().parent / "sample_data" / "kaggle_5p"
SAMPLE_UNLABELLED_DIR = Path(__file__).resolve().parent / "sample_data" / "unlabelled_real" / "images"
SAMPLE_TEXT_DIR = Path(__file__).resolve().parent / "sample_data" / "classical_text"
# The page model shipped in the package (docs/pretrained.md): weights and settings in
# kuzushiji_tf/pretrained/<name>-<version>/, which every reading command uses unless given --model. A new
# release takes a new version, so a user's cache of the old one is never mistaken for it.
SHIPPED_MODEL_NAME = "kuzushiji-reader"
SHIPPED_MODEL_VERSION = 1
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "pretrained" / f"{SHIPPED_MODEL_NAME}-{SHIPPED_MODEL_VERSION}"
SHIPPED_MODEL_MAX_BYTES = 60_000_000  # what the repository can carry: float16 weights of the release model fit
INFERENCE_SHORT_SIDE = 832  # docs/recipe.md: inference at short side 832
SIZE_MULTIPLE = 32  # the detector backbone's coarsest stride: every input side is a multiple of it
# The page recogniser's `auto` scale policy (recognition/contract.py RecognizerOptions.scale_policy): a first
# pass at the export's short side measures the page's median character height, and a second pass reads the
# page at the short side that brings it to the height the detector was trained on.
SCALE_POLICIES = ("fixed", "auto")
# That height as a fraction of the detector's training input side: the median, over training views, of each
# view's median character box height (data/detector_input.training_char_heights). 0.119 on the demo's
# synthetic records (889 views of its 115 training pages with characters: 22.9 px of 192); `kuzushiji-export
# --scale auto` measures the detector's own records when its config.json names them, and falls back on this.
TRAIN_CHAR_HEIGHT = 0.119
# The second pass's short side stays within these multiples of the export's short side (rounded to 32): a
# page of a few huge characters must not shrink to nothing, nor one of tiny noise peaks blow up the input.
SCALE_BOUNDS = (0.5, 2.0)
# A change of less than this share of the short side keeps the first pass, so that pages on the detector's
# own scale cost one pass: on 40 held-out synthetic pages of the training books' distribution (seed 303),
# the demo detector's chosen short sides spread 332-443 around 384 (10th-90th percentile), and 0.15 sent 15
# of them through a second pass at +-17 %, 0.2 sent 3 (docs/recognition.md, "The scale a page is read at").
SCALE_TOLERANCE = 0.2
# Fewer first-pass characters than this say nothing reliable about the page's script: one pass.
SCALE_MIN_CHARS = 5
MAX_CHARS_PER_PAGE = 1200  # Kaggle's cap on predictions per page (docs/recipe.md "Submission")
DETECTION_THRESHOLD = 0.3  # docs/recipe.md: submission threshold on the detector's score
CLASS_THRESHOLD = 0.5  # docs/recipe.md: submission threshold on the class probability
NMS_IOU = 0.5  # docs/recipe.md: NMS at IoU 0.5
# After NMS, a box with more than this share of its area inside a better box is dropped (1.0: never):
# a character's separate strokes peak on their own, and IoU is small for a box inside a larger one.
# 0.3 is the least aggressive share within 0.001 of the best validation F1 of the synthetic pages
# (0.1-0.5 tried; docs/experiments.md); the real pages were not used to choose it.
CONTAINED_SHARE = 0.3
# Real Kaggle pages are at most about 4000 x 6000 (24 MP). 64 MP leaves room for larger scans and refuses
# files whose header claims a size that would exhaust memory once decoded.
MAX_PIXELS = 64_000_000
MAX_IMAGE_BYTES = 50_000_000  # the page recogniser refuses larger encoded pages
TOP_K = 5  # candidate classes the exported recogniser returns per character
# Context decoding (recognition/context.py): the best of kuzushiji-tune-context's grid for the demo's
# classifier on 120 synthetic validation pages written from held-out documents (docs/experiments.md,
# "Reading in context"); never chosen on the real labelled pages. An export carries its own (export --context).
CONTEXT_LM_WEIGHT = 0.3  # weight of log p_LM against the crop's log-probability (0.2-0.5 within 0.003)
CONTEXT_BEAM = 4  # hypotheses kept per character: 8 was no better
CONTEXT_KEEP_ABOVE = 0.9  # a glyph whose top class is this probable keeps it against the language model


@dataclass(frozen=True)
class DetectorConfig:
    backbone: str = "resnet18"  # docs/recipe.md: ResNet18-style, trained from scratch
    input_size: int = 416  # docs/recipe.md: random crops resized to 416x416
    eval_short_side: int = INFERENCE_SHORT_SIDE
    max_chars: int = 512  # target slots per training crop (a crop holds < ~300 characters)
    head_channels: int = 64
    score_threshold: float = DETECTION_THRESHOLD
    nms_iou: float = NMS_IOU
    contained_share: float = CONTAINED_SHARE
    max_detections: int = MAX_CHARS_PER_PAGE
    pseudo_ratio: float = 0.5  # with --pseudo: pseudo-labelled pages per training page


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 700  # docs/recipe.md: 700 epochs over the pages (about 170k steps at batch 16)
    batch_size: int = 16  # global batch
    lr: float = 1e-3
    optimizer: str = "sgd"  # docs/recipe.md: SGD, Nesterov momentum 0.9; `adamw` converges faster in short CPU runs
    momentum: float = 0.9
    weight_decay: float = 1e-5
    clip_norm: float = 100.0  # docs/recipe.md: global-norm clip 100
    lr_drops: tuple[float, ...] = (0.5, 0.75)  # docs/recipe.md: lr x0.1 at 50% and 75% of training
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
    """The MobileNetV3Small character classifier and its crops (docs/recipe.md "Classifier", "Pseudo-labels")."""

    input_size: int = 112  # docs/recipe.md: 112 x 112 crops
    alpha: float = (
        1.0  # MobileNetV3Small width; the recipe's (docs/recipe.md) MobileNetV3 Large is replaced by Small here
    )
    minimalistic: bool = False
    dropout: float = 0.2  # the 8th-place model's dropout before its last layer
    # docs/recipe.md: training windows take 1.1/1.4..1.3/1.4 of the stored crop (1.4 x the box's longer side)
    # per axis with a small shift; validation the centre 1.2/1.4.
    train_crop_range: tuple[float, float] = (1.1 / 1.4, 1.3 / 1.4)
    max_shift: float = 0.05  # window-centre shift, fraction of the stored side (the recipe gives no number)
    eval_crop_fraction: float = 1.2 / 1.4
    crops_per_epoch: int = 20_000  # docs/recipe.md: an epoch is 20,000 crops sampled with replacement
    pseudo_ratio: float = 0.5  # docs/recipe.md: 10,000 pseudo-labelled crops per 20,000 training crops
    fine_tune_lr: float = 0.01  # docs/recipe.md: fine-tuning with pseudo-labels (--init) at lr 0.01
    # The 8th-place code fine-tuned for 100 epochs with one lr drop at 50 % (scripts/finetune_classifier.py).
    fine_tune_epochs: int = 100
    fine_tune_lr_drops: tuple[float, ...] = (0.5,)
    eval_batch_size: int = 256


# docs/recipe.md: SGD Nesterov lr 0.1, weight decay 1e-4, batch 192, lr x0.1 at 50 % and 75 %. 900 epochs of
# 20,000 crops: the 8th-place classifier was its `model_900` (README of the seed repository).
CLASSIFIER_TRAIN = TrainConfig(epochs=900, batch_size=192, lr=0.1, weight_decay=1e-4)
