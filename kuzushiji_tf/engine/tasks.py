"""Tasks: the seam between the loop and a model (Model Garden's task idea). A task builds its model and
inputs from its config, names its losses and computes its validation metrics. `examples_per_epoch` is
what the loop's epoch counts: pages for the detector, a fixed number of sampled crops for the classifier."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kuzushiji_tf.config import ClassifierConfig, DetectorConfig, TrainConfig
from kuzushiji_tf.data import pipeline, schema
from kuzushiji_tf.data.classifier_input import CROPS, LABEL, VIEW, classifier_dataset, crop_labels
from kuzushiji_tf.data.detector_input import detector_dataset
from kuzushiji_tf.data.records import MANIFEST, VOCABULARY, read_vocabulary
from kuzushiji_tf.detection.detect import detect, to_original_pixels
from kuzushiji_tf.evaluation.metric import Score, count_page
from kuzushiji_tf.evaluation.test_set import assert_no_test_ids, assert_not_test_records
from kuzushiji_tf.models.centernet import build_centernet, centernet_loss
from kuzushiji_tf.models.classifier import LOGITS, CropTrainView, build_classifier, classifier_loss
from kuzushiji_tf.models.saved_models import resolve_keras_file
from kuzushiji_tf.structures import MASK


def read_manifest(records_dir: str | Path) -> dict:
    path = Path(records_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the records with kuzushiji-build-records first")
    return json.loads(path.read_text())


def read_training_manifest(records_dir: str | Path) -> dict:
    """`read_manifest` of records about to be trained on: records built from the bundled labelled real sample
    (the project's real test set, `kuzushiji_tf.evaluation.test_set`) are refused with RealTestSetError."""
    manifest = read_manifest(records_dir)
    assert_not_test_records(records_dir, "--records")
    return manifest


def check_not_test_pages(folder: str | Path, what: str, kind: str = "crops") -> None:
    """Refuses (RealTestSetError) a folder of crop or page shards (`kind`, any split) whose manifest names
    the real test set as its source or whose records come from a real test page, by their image ids."""
    assert_not_test_records(folder, what)
    files = pipeline.list_shards(folder, kind, None)
    ids = (
        tf.data.TFRecordDataset(files)
        .batch(256)
        .map(
            lambda records: tf.io.parse_example(records, {schema.IMAGE_ID: tf.io.FixedLenFeature([], tf.string)})[
                schema.IMAGE_ID
            ]
        )
    )
    for batch in ids:
        assert_no_test_ids(set(batch.numpy().tolist()), folder, what)


def load_init_weights(model: keras.Model, init_file: Path, described: str) -> keras.Model:
    """`model` with the weights of a saved model (--init); `described` names the architecture in the error."""
    try:
        model.load_weights(str(init_file))
    except ValueError as error:
        raise ValueError(
            f"--init {init_file}: its weights do not fit a {described} ({str(error).splitlines()[0]})"
        ) from error
    return model


def make_optimizer(train: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """SGD Nesterov (or AdamW) with the recipe's step schedule: lr x `lr_drop_factor` at each `lr_drops`."""
    boundaries = [max(1, int(total_steps * f)) for f in train.lr_drops]
    values = [train.lr * train.lr_drop_factor**i for i in range(len(boundaries) + 1)]
    # `--lr-drops` given no fractions: a constant lr (PiecewiseConstantDecay fails without a boundary).
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values) if boundaries else train.lr
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(
            schedule,
            momentum=train.momentum,
            nesterov=True,
            weight_decay=train.weight_decay,
            global_clipnorm=train.clip_norm,
        )
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=train.weight_decay, global_clipnorm=train.clip_norm)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw'; received {train.optimizer!r}")


def input_seed(seed: int, input_context: tf.distribute.InputContext, start_step: int = 0) -> int:
    """The seed of one input pipeline: distinct for every (pipeline, start step) pair of a run, so workers
    read different random streams and a run resumed at step K does not replay the stream of step 0."""
    return seed + input_context.input_pipeline_id + start_step * input_context.num_input_pipelines


class DetectorTask:
    """CenterNet on page records: random 416 crops to train, whole pages at short side 832 to validate.

    `init` starts from a saved detector's weights (a checkpoint in the output folder still wins);
    `pseudo_dir` (one folder or several, pooled) mixes in pseudo-labelled pages, e.g. real scans labelled
    by the detector itself (self-training), `pseudo_ratio` of them per training page. Neither the records
    nor a pseudo-label folder may hold the real test set.
    """

    def __init__(
        self,
        records_dir: str,
        model_config: DetectorConfig,
        train_config: TrainConfig,
        *,
        init: str | None = None,
        pseudo_dir: str | list[str] | tuple[str, ...] | None = None,
    ):
        self.records_dir = records_dir
        self.config = model_config
        self.train_config = train_config
        self.manifest = read_training_manifest(records_dir)
        self.init_file = resolve_keras_file(init) if init else None
        self.pseudo_dirs = [pseudo_dir] if isinstance(pseudo_dir, (str, Path)) else list(pseudo_dir or [])
        for folder in self.pseudo_dirs:
            check_not_test_pages(folder, "--pseudo", "pages")

    @property
    def train_pages(self) -> int:
        return self.manifest["splits"]["train"]["pages"]

    @property
    def examples_per_epoch(self) -> int:
        return self.train_pages  # docs/recipe.md: an epoch is one pass over the training pages

    def build_model(self) -> keras.Model:
        keras.utils.set_random_seed(self.train_config.seed)
        model = build_centernet(self.config.backbone, head_channels=self.config.head_channels)
        if self.init_file is not None:
            model(np.zeros((1, 64, 64, 3), np.float32))  # build the variables before loading
            load_init_weights(
                model,
                self.init_file,
                f"detector with backbone={self.config.backbone}, head_channels={self.config.head_channels}",
            )
        return model

    def train_dataset(self, input_context: tf.distribute.InputContext, start_step: int = 0) -> tf.data.Dataset:
        return detector_dataset(
            self.records_dir,
            "train",
            training=True,
            batch_size=input_context.get_per_replica_batch_size(self.train_config.batch_size),
            input_size=self.config.input_size,
            max_chars=self.config.max_chars,
            seed=input_seed(self.train_config.seed, input_context, start_step),
            input_context=input_context,
            extra_records=self.pseudo_dirs or None,
            extra_weight=self.config.pseudo_ratio,
        )

    def model_inputs(self, inputs):
        return inputs  # the input pipeline sends the finished views

    def normaliser(self, targets) -> tf.Tensor:
        return tf.reduce_sum(targets[MASK])

    def loss(self, targets, outputs, global_normaliser) -> dict:
        return centernet_loss(targets, outputs, num_objects=global_normaliser)

    def evaluate(self, model: keras.Model, split: str = "val") -> dict[str, float]:
        """Detection F1 (labels ignored, Kaggle's point-in-box rule) on whole pages, in scan pixels."""
        if self.manifest["splits"][split]["pages"] == 0:
            return {}
        dataset = detector_dataset(
            self.records_dir,
            split,
            training=False,
            batch_size=1,
            eval_short_side=self.config.eval_short_side,
            include_meta=True,
        )
        tp = fp = fn = 0
        for image, _, meta in dataset:
            boxes, _ = detect(
                model,
                image,
                score_threshold=self.config.score_threshold,
                nms_iou=self.config.nms_iou,
                max_detections=self.config.max_detections,
                contained_share=self.config.contained_share,
            )[0]
            predicted = to_original_pixels(boxes, meta["scale"][0]).numpy()
            truth = to_original_pixels(meta["boxes"][0], meta["scale"][0]).numpy()
            points = (predicted[:, :2] + predicted[:, 2:]) / 2
            truth_xywh = np.concatenate([truth[:, :2], truth[:, 2:] - truth[:, :2]], axis=1)
            page = count_page([""] * len(truth), truth_xywh, [""] * len(points), points, ignore_labels=True)
            tp, fp, fn = tp + page[0], fp + page[1], fn + page[2]
        score = Score.from_counts(tp, fp, fn)
        return {"det_f1": score.f1, "det_precision": score.precision, "det_recall": score.recall}


def saved_vocabulary(other_dir: Path, what: str) -> list[tuple[str, str]]:
    """[(code, char)], by class id, of the `vocabulary.csv` beside a saved model or in a crop folder."""
    if not (other_dir / VOCABULARY).is_file():
        raise FileNotFoundError(
            f"{what} {other_dir}: no {VOCABULARY}, so its class ids cannot be checked against the records' vocabulary"
        )
    return read_vocabulary(other_dir)


def check_same_vocabulary(codes: list[str], other_dir: Path, what: str, also: list[str] | None = None) -> None:
    """Class ids only mean something within one vocabulary: `other_dir`'s must equal the records' (or
    `also`, the model's when it holds more classes after the records')."""
    other = [code for code, _ in saved_vocabulary(other_dir, what)]
    if other != codes and other != also:
        first = next((i for i, (a, b) in enumerate(zip(other, codes)) if a != b), min(len(other), len(codes)))
        raise ValueError(
            f"{what} {other_dir}: its {VOCABULARY} ({len(other)} classes) differs from the records' "
            f"({len(codes)} classes) from class id {first} on; train on records built with the same vocabulary"
        )


def vocabulary_transfer(
    source: keras.Model, source_codes: list[str], target: keras.Model, target_codes: list[str]
) -> keras.Model:
    """Copies a classifier's weights into one of another vocabulary: every layer but the logits as they
    are, and the logits' kernel column and bias of each code both vocabularies hold; the target's other
    columns keep their fresh initialisation. Returns `target`."""
    for layer in target.layers:
        if layer.name != LOGITS and layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    kernel, bias = (np.array(w) for w in target.get_layer(LOGITS).get_weights())
    saved_kernel, saved_bias = source.get_layer(LOGITS).get_weights()
    rows = {code: i for i, code in enumerate(source_codes)}
    for j, code in enumerate(target_codes):
        if code in rows:
            kernel[:, j], bias[j] = saved_kernel[:, rows[code]], saved_bias[rows[code]]
    target.get_layer(LOGITS).set_weights([kernel, bias])
    return target


class ClassifierTask:
    """MobileNetV3Small on crop records: random train views in epochs of `crops_per_epoch` sampled crops
    (plus `pseudo_ratio` times as many pseudo-labelled crops with `pseudo_dir`), validated by top-1/top-5
    on the centre views of the val crops.

    `init` (a `.keras` file or a training output folder) starts from a saved classifier's weights. When
    its vocabulary differs from the records' (another synthetic set, a CODH book), the model's vocabulary
    is the records' codes followed by the saved classes the records lack, so that fine-tuning on a book of
    300 characters does not forget the other 3,000; every layer but the last is loaded as saved and the
    last layer's weights follow the codes: a class of both keeps its trained row, a new class starts fresh
    (`vocabulary_transfer`). A checkpoint in the output folder still wins: a resumed fine-tune continues
    where it stopped. `pseudo_dir` is one folder or a list of them (pooled); each one's vocabulary must be
    the records' or the model's. Neither the records nor a pseudo-label folder may hold the real test set.
    """

    def __init__(
        self,
        records_dir: str,
        model_config: ClassifierConfig,
        train_config: TrainConfig,
        *,
        init: str | None = None,
        pseudo_dir: str | list[str] | tuple[str, ...] | None = None,
    ):
        self.records_dir = records_dir
        self.config = model_config
        self.train_config = train_config
        self.manifest = read_training_manifest(records_dir)
        self.vocabulary = read_vocabulary(records_dir)  # [(code, char)] by class id: the model's classes
        self.record_codes = [code for code, _ in self.vocabulary]
        self.init_file = resolve_keras_file(init) if init else None
        init_vocabulary = saved_vocabulary(self.init_file.parent, "--init") if self.init_file else None
        self.init_codes = None if init_vocabulary is None else [code for code, _ in init_vocabulary]
        if self.init_codes is not None and self.init_codes != self.record_codes:
            # Appended after the records' ids, so the records' (and their pseudo-labels') class ids stay valid.
            held = set(self.record_codes)
            self.vocabulary += [pair for pair in init_vocabulary if pair[0] not in held]
        self.codes = [code for code, _ in self.vocabulary]
        self.pseudo_dirs = [pseudo_dir] if isinstance(pseudo_dir, (str, Path)) else list(pseudo_dir or [])
        for folder in self.pseudo_dirs:
            check_same_vocabulary(self.record_codes, Path(folder), "--pseudo", also=self.codes)
            check_not_test_pages(folder, "--pseudo")
        self._train_classes = None
        self._predict = (None, None)
        self.train_view = CropTrainView(model_config.input_size)

    @property
    def num_classes(self) -> int:
        return len(self.codes)

    @property
    def examples_per_epoch(self) -> int:
        extra = self.config.pseudo_ratio if self.pseudo_dirs else 0.0
        return round(self.config.crops_per_epoch * (1.0 + extra))

    def build_model(self) -> keras.Model:
        keras.utils.set_random_seed(self.train_config.seed)
        cfg = self.config
        model = build_classifier(
            self.num_classes, cfg.input_size, alpha=cfg.alpha, minimalistic=cfg.minimalistic, dropout=cfg.dropout
        )
        if self.init_file is not None:
            described = (
                f"classifier with input_size={cfg.input_size}, alpha={cfg.alpha}, minimalistic={cfg.minimalistic}"
            )
            if self.init_codes == self.codes:
                load_init_weights(model, self.init_file, described)
            else:
                saved = build_classifier(
                    len(self.init_codes),
                    cfg.input_size,
                    alpha=cfg.alpha,
                    minimalistic=cfg.minimalistic,
                    dropout=cfg.dropout,
                )
                load_init_weights(saved, self.init_file, f"{described}, {len(self.init_codes)} classes")
                vocabulary_transfer(saved, self.init_codes, model, self.codes)
        return model

    def vocabulary_note(self) -> str | None:
        """One line on how --init's vocabulary maps to the records' (None when they are the same)."""
        if self.init_codes is None or self.init_codes == self.codes:
            return None
        shared = len(set(self.init_codes) & set(self.record_codes))
        added = len(self.codes) - len(self.record_codes)
        return (
            f"--init's vocabulary ({len(self.init_codes)} classes) differs from the records' "
            f"({len(self.record_codes)}): {shared} classes keep their trained weights, "
            f"{len(self.record_codes) - shared} start fresh, {added} of its classes the records lack "
            f"{'is' if added == 1 else 'are'} kept after them ({len(self.codes)} classes in all)"
        )

    def train_dataset(self, input_context: tf.distribute.InputContext, start_step: int = 0) -> tf.data.Dataset:
        cfg = self.config
        return classifier_dataset(
            self.records_dir,
            "train",
            training=True,
            batch_size=input_context.get_per_replica_batch_size(self.train_config.batch_size),
            input_size=cfg.input_size,
            seed=input_seed(self.train_config.seed, input_context, start_step),
            input_context=input_context,
            extra_records=self.pseudo_dirs or None,
            extra_weight=cfg.pseudo_ratio,
            crop_range=cfg.train_crop_range,
            max_shift=cfg.max_shift,
            num_classes=self.num_classes,
        )

    def model_inputs(self, inputs):
        return self.train_view(inputs[CROPS], inputs[VIEW])

    def normaliser(self, targets) -> tf.Tensor:
        return tf.cast(tf.shape(targets[LABEL])[0], tf.float32)

    def loss(self, targets, outputs, global_normaliser) -> dict:
        return classifier_loss(targets[LABEL], outputs, num_crops=global_normaliser)

    def train_classes(self) -> np.ndarray:
        """Sorted class ids that occur in the training crops (read once)."""
        if self._train_classes is None:
            self._train_classes = np.unique(crop_labels(self.records_dir, "train"))
        return self._train_classes

    def evaluate(self, model: keras.Model, split: str = "val") -> dict[str, float]:
        """Top-1 and top-5 accuracy and mean cross-entropy on the centre views of a split's crops, and how
        many of them (`unseen_crops`, of `unseen_classes` classes) have a class absent from the training
        crops: those cannot be right, and a book-grouped split has some."""
        if self.manifest["splits"][split]["characters"] == 0:
            return {}
        cached_model, predict = self._predict
        if cached_model is not model:
            size = self.config.input_size
            predict = tf.function(
                lambda images: model(images, training=False)[LOGITS],
                input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
            )
            self._predict = (model, predict)
        dataset = classifier_dataset(
            self.records_dir,
            split,
            training=False,
            batch_size=self.config.eval_batch_size,
            input_size=self.config.input_size,
            eval_fraction=self.config.eval_crop_fraction,
        )
        k = min(5, self.num_classes)
        labels, top1, topk, cross_entropy = [], [], [], []
        for images, targets in dataset:
            logits = predict(images)  # [B, C] float32
            label = targets[LABEL]
            best = tf.math.top_k(logits, k).indices  # [B, k]; ties go to the lower id, never all counted right
            top1.append((best[:, 0] == label).numpy())
            topk.append(tf.reduce_any(best == label[:, None], axis=1).numpy())
            cross_entropy.append(
                keras.ops.convert_to_numpy(keras.ops.sparse_categorical_crossentropy(label, logits, from_logits=True))
            )
            labels.append(label.numpy())
        labels = np.concatenate(labels)
        unseen = ~np.isin(labels, self.train_classes())
        return {
            "top1": float(np.concatenate(top1).mean()),
            "top5": float(np.concatenate(topk).mean()),
            "loss": float(np.concatenate(cross_entropy).mean()),
            "crops": float(len(labels)),
            "unseen_crops": float(unseen.sum()),
            "unseen_classes": float(len(np.unique(labels[unseen]))),
        }


TASKS = {"detector": DetectorTask, "classifier": ClassifierTask}
