"""Self-training on real unlabelled scans: `tools/pseudo_label.py --images` labels the bundled real pages into
crop records that the classifier input reads, skips an unreadable file and caps each class. The real test set
guard refuses the 5 labelled real pages (by bytes, even renamed, and by id), refuses training on records of
the bundled labelled sample, and refuses pseudo-labelled crops of those pages. `--pseudo` takes several folders
and pools them."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, SAMPLE_DIR, TINY_VOCABULARY, make_kaggle_dir, tiny_page_models
from kuzushiji_tf.cli import pseudo_label as pseudo_tool
from kuzushiji_tf.cli import train
from kuzushiji_tf.config import ClassifierConfig, TrainConfig
from kuzushiji_tf.data import classifier_input as ci
from kuzushiji_tf.data import pipeline, schema
from kuzushiji_tf.data.detector_input import detector_dataset
from kuzushiji_tf.data.records import RecordOptions, build_records
from kuzushiji_tf.engine.tasks import ClassifierTask, DetectorTask
from kuzushiji_tf.evaluation import test_set as real_test_set
from kuzushiji_tf.evaluation.test_set import RealTestSetError
from kuzushiji_tf.self_training.pseudo_labels import cap_per_class
from kuzushiji_tf.structures import MASK

REAL_SCANS = REPO / "kuzushiji_tf" / "sample_data" / "unlabelled_real" / "images"
REAL_IDS = ("200010454_00005_1", "200021869_00012_2")  # 1200 x 1590 and 1200 x 1747
LABELLED = sorted((SAMPLE_DIR / "train_images").glob("*.jpg"))
TINY_MODEL = dict(input_size=32, alpha=0.5, minimalistic=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tiny records whose stored pages are 400 px on the short side (so the 1200 px real scans are shrunk)
    with 32 px crops, tiny saved models over their 3 classes, and a folder of two real scans and a corrupt file."""
    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle"), size=(256, 384))
    records = tmp_path_factory.mktemp("records")
    build_records(
        root, records, RecordOptions(num_folds=3, page_short_side=400, crop_size=32), workers=1, progress=False
    )
    models = tmp_path_factory.mktemp("models")
    detector, classifier = tiny_page_models()
    detector.save(models / "det.keras")
    classifier.save(models / "cls.keras")
    scans = tmp_path_factory.mktemp("scans")
    for image_id in REAL_IDS:
        shutil.copy(REAL_SCANS / f"{image_id}.jpg", scans)
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (scans / "notes.txt").write_text("not an image: ignored")
    return records, models, scans


def label_scans(setup, out, *extra):
    records, models, scans = setup
    return pseudo_tool.main(
        [
            "--detector",
            str(models / "det.keras"),
            "--classifier",
            str(models / "cls.keras"),
            "--records",
            str(records),
            "--images",
            str(scans),
            "--out",
            str(out),
            "--det-threshold",
            "0",
            "--cls-threshold",
            "0",
            "--short-side",
            "128",
            "--shards",
            "2",
            "--quiet",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def everything(setup, tmp_path_factory):
    """The real scans labelled with both thresholds at 0 and no cap: the tiny models keep every peak."""
    out = tmp_path_factory.mktemp("pseudo_all")
    assert label_scans(setup, out, "--max-per-class", "0") == 0
    return out, json.loads((out / "manifest.json").read_text())


def test_images_become_crop_records_of_the_real_pages_and_the_corrupt_file_is_skipped(setup, everything, capsys):
    records, _, scans = setup
    out, manifest = everything
    assert manifest["kind"] == "pseudo_labels" and manifest["source"] == "images"
    assert manifest["pages"] == 3 and manifest["pages_labelled"] == 2  # notes.txt is not listed at all
    [skipped] = manifest["skipped"]
    assert skipped["file"] == str(scans / "broken.jpg") and "not a readable image" in skipped["problem"]
    assert manifest["crops"] > 0 and manifest["crops"] == manifest["candidates"]
    pages = {p["image_id"]: p for p in manifest["page_files"]}
    assert set(pages) == set(REAL_IDS)
    # Stored as the record builder stores a page: shrunk to the records' short side of 400.
    assert pages["200010454_00005_1"]["original_size"] == [1200, 1590]
    assert pages["200010454_00005_1"]["stored_size"] == [400, 530]
    assert sum(p["crops"] for p in pages.values()) == manifest["crops"]
    assert sum(c["crops"] for c in manifest["per_class"].values()) == manifest["crops"]
    assert sum(manifest["class_probability"]["histogram"]["counts"]) == manifest["crops"]
    assert 0.333 <= manifest["class_probability"]["mean"] <= 1.0  # 3 classes: the top one has at least 1/3
    assert not list(out.glob("*.tmp"))

    crops = list(pipeline.read_crops(out, "train"))
    assert len(crops) == manifest["crops"]
    assert {c["image_id"].numpy().decode() for c in crops} == set(REAL_IDS)
    assert {c["book"].numpy().decode() for c in crops} == {"200010454", "200021869"}
    assert crops[0]["image"].shape == (32, 32, 3)
    x0, y0, x1, y1 = np.stack([c["source_box"].numpy() for c in crops]).T
    assert x0.min() >= -1 and x1.max() <= 1201 and y1.max() <= 1748  # original page pixels
    # The classifier's training input reads them as its pseudo-labelled crops.
    batch, targets = next(
        iter(
            ci.classifier_dataset(
                records,
                "train",
                training=True,
                batch_size=8,
                input_size=32,
                seed=0,
                extra_records=out,
                extra_weight=1.0,
                num_classes=3,
            )
        )
    )
    assert batch[ci.CROPS].shape == (8, 32, 32, 3) and targets[ci.LABEL].shape == (8,)

    # The same scans as page records with every confident box, for the detector's self-training.
    assert [e["file"] for e in manifest["page_shards"]] == [
        "pages-train-00000-of-00002.tfrecord",
        "pages-train-00001-of-00002.tfrecord",
    ]
    stored = {p["image_id"].numpy().decode(): p for p in pipeline.read_pages(out, None)}
    assert set(stored) == set(REAL_IDS)
    page = stored["200010454_00005_1"]
    assert page["image"].shape == (530, 400, 3) and len(page["boxes"]) == pages["200010454_00005_1"]["page_boxes"] > 0
    assert len(page["boxes"]) >= pages["200010454_00005_1"]["crops"]  # every confident box, not only the kept crops
    images, targets = next(
        iter(
            detector_dataset(
                records,
                "train",
                training=True,
                batch_size=2,
                input_size=64,
                seed=0,
                extra_records=out,
                extra_weight=1e6,
            )
        )
    )
    assert images.shape == (2, 64, 64, 3) and float(tf.reduce_sum(targets[MASK])) > 0


def test_max_per_class_keeps_the_most_probable_of_each_class(setup, everything, tmp_path):
    _, uncapped = everything
    out = tmp_path / "capped"
    assert label_scans(setup, out, "--max-per-class", "5") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    counts = {code: entry["crops"] for code, entry in uncapped["per_class"].items()}
    assert max(counts.values()) > 5  # the cap bites
    assert manifest["candidates"] == uncapped["crops"]
    assert manifest["crops"] == sum(min(5, n) for n in counts.values()) == len(list(pipeline.read_crops(out, "train")))
    assert all(entry["crops"] <= 5 for entry in manifest["per_class"].values())
    assert manifest["capped"] == {
        "max_per_class": 5,
        "dropped": uncapped["crops"] - manifest["crops"],
        "classes_at_cap": sum(n >= 5 for n in counts.values()),
    }

    # A rerun into the same folder with fewer shards leaves only its own shards; the records folder is refused.
    assert label_scans(setup, out, "--max-per-class", "2", "--shards", "1") == 0
    assert sorted(p.name for p in out.glob("*.tfrecord")) == [
        "crops-train-00000-of-00001.tfrecord",
        "pages-train-00000-of-00001.tfrecord",
    ]
    assert len(list(pipeline.read_crops(out, "train"))) == json.loads((out / "manifest.json").read_text())["crops"]
    assert label_scans(setup, setup[0]) == 2

    keep = cap_per_class(np.array([0, 1, 0, 0, 1, 2]), np.array([0.5, 0.9, 0.7, 0.7, 0.8, 0.1]), 2)
    np.testing.assert_array_equal(keep, [False, True, True, True, True, True])  # ties: the earlier one first
    assert cap_per_class(np.array([0, 0]), np.array([0.1, 0.2]), None).all()


def test_the_guard_refuses_each_labelled_real_page_by_bytes_and_by_id(tmp_path, capsys):
    assert len(LABELLED) == 5 and len(real_test_set.TEST_PAGE_SHA256) == 5
    for k, page in enumerate(LABELLED):
        renamed = tmp_path / f"renamed{k}"
        renamed.mkdir()
        shutil.copy(page, renamed / f"scan_{k}.jpg")  # the bytes give it away
        shutil.copy(REAL_SCANS / f"{REAL_IDS[0]}.jpg", renamed)  # a page that may be labelled, beside it
        out = tmp_path / f"out{k}"
        code = pseudo_tool.main(
            [
                "--detector",
                "unused",
                "--classifier",
                "unused",
                "--records",
                "unused",
                "--images",
                str(renamed),
                "--out",
                str(out),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("pseudo_label: error:") and f"real test page {page.stem}" in err
        assert not out.exists()  # refused before anything was written
        with pytest.raises(RealTestSetError):
            real_test_set.assert_not_test_page(page.read_bytes())
    # By id: the page under its own name, even re-encoded (other bytes), and as a glob.
    small = cv2.resize(cv2.imread(str(LABELLED[0])), (240, 387))
    cv2.imwrite(str(tmp_path / f"{LABELLED[0].stem}.png"), small)
    assert (
        pseudo_tool.main(
            [
                "--detector",
                "d",
                "--classifier",
                "c",
                "--records",
                "r",
                "--images",
                str(tmp_path / "*.png"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert f"real test page {LABELLED[0].stem}" in capsys.readouterr().err
    # The real pages without labels, and the unlabelled Kaggle test pages, pass.
    for path in [*REAL_SCANS.glob("*.jpg"), *(SAMPLE_DIR / "test_images").glob("*.jpg")]:
        real_test_set.assert_not_test_page(path)


def test_training_on_the_bundled_labelled_sample_is_refused(tmp_path, capsys):
    sample = tmp_path / "sample"
    build_records(
        SAMPLE_DIR, sample, RecordOptions(full_data=True, page_short_side=64, crop_size=16), workers=1, progress=False
    )
    for task in ("detector", "classifier"):
        code = train.main(["--task", task, "--records", str(sample), "--out", str(tmp_path / task), "--epochs", "1"])
        err = capsys.readouterr().err
        assert code == 2 and "train: error: --records" in err and "real test set" in err
        assert not (tmp_path / task).exists()
    # A copy of the sample elsewhere is caught by its train.csv's sha256.
    copy = tmp_path / "copy"
    shutil.copytree(sample, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"]["data_dir"] = str(tmp_path / "elsewhere")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RealTestSetError, match="train.csv identical to a label file"):
        DetectorTask(str(copy), None, TrainConfig())
    # Records of other data pass.
    real_test_set.assert_not_test_records(SAMPLE_DIR / "no-records-here")


def write_crops(folder: Path, labels, image_id: str, grey: int, shards: int = 1):
    """Crop shards (any split name) with a vocabulary: solid crops of one grey level."""
    folder.mkdir(parents=True, exist_ok=True)
    writers = [
        tf.io.TFRecordWriter(str(folder / f"crops-train-{k:05d}-of-{shards:05d}.tfrecord")) for k in range(shards)
    ]
    jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), grey, np.uint8))[1].tobytes()
    for i, label in enumerate(labels):
        writers[i % shards].write(
            schema.encode_crop(
                image_jpeg=jpeg,
                label=label,
                code=TINY_VOCABULARY[label][0],
                image_id=image_id,
                book=image_id.split("_")[0],
                source_box=[0, 0, 10, 10],
                index=i,
            )
        )
    for writer in writers:
        writer.close()
    (folder / "vocabulary.csv").write_text(
        "class_id,code,char\n" + "".join(f"{i},{code},{char}\n" for i, (code, char) in enumerate(TINY_VOCABULARY))
    )
    return folder


def test_pseudo_takes_several_folders_and_pools_them(tiny_split_records, tmp_path):
    synthetic = write_crops(tmp_path / "synthetic", [0] * 30, "test_0001", grey=40, shards=2)
    real = write_crops(tmp_path / "real", [1] * 10, "200010454_00005_1", grey=200)
    dataset = ci.classifier_dataset(
        tiny_split_records,
        "train",
        training=True,
        batch_size=50,
        input_size=32,
        seed=0,
        extra_records=[synthetic, real],
        extra_weight=1e6,
    )
    labels = np.concatenate([targets[ci.LABEL].numpy() for _, targets in dataset.take(8)])
    from_synthetic, from_real = (labels == 0).mean(), (labels == 1).mean()
    assert from_synthetic + from_real > 0.99 and from_real > 0.1  # both folders, in about their 3:1 share
    assert 0.6 < from_synthetic / (from_synthetic + from_real) < 0.9

    args = train.parse_args(
        ["--task", "classifier", "--records", "r", "--out", "o", "--pseudo", str(synthetic), str(real)]
    )
    assert args.pseudo == [str(synthetic), str(real)]
    task = ClassifierTask(
        str(tiny_split_records),
        ClassifierConfig(**TINY_MODEL, crops_per_epoch=10),
        TrainConfig(),
        pseudo_dir=args.pseudo,
    )
    assert task.pseudo_dirs == [str(synthetic), str(real)] and task.examples_per_epoch == 15
    # Each folder's vocabulary is checked against the records'; a folder of crops of a real test page is refused.
    other = write_crops(tmp_path / "other", [0], "x_1", grey=90)
    (other / "vocabulary.csv").write_text("class_id,code,char\n0,U+3042,あ\n")
    with pytest.raises(ValueError, match=f"--pseudo {other}: its vocabulary.csv"):
        ClassifierTask(
            str(tiny_split_records), ClassifierConfig(**TINY_MODEL), TrainConfig(), pseudo_dir=[str(real), str(other)]
        )
    leaked = write_crops(tmp_path / "leaked", [2, 2], LABELLED[1].stem, grey=120)
    with pytest.raises(RealTestSetError, match=f"--pseudo {leaked}: holds the real test page {LABELLED[1].stem}"):
        ClassifierTask(
            str(tiny_split_records), ClassifierConfig(**TINY_MODEL), TrainConfig(), pseudo_dir=[str(real), str(leaked)]
        )


@pytest.mark.slow
def test_fine_tune_cli_mixes_two_pseudo_folders(tiny_split_records, tmp_path):
    synthetic = write_crops(tmp_path / "synthetic", [0] * 6, "test_0001", grey=40)
    real = write_crops(tmp_path / "real", [1] * 2, "200010454_00005_1", grey=200)
    out = tmp_path / "tuned"
    flags = [
        "--task",
        "classifier",
        "--records",
        str(tiny_split_records),
        "--out",
        str(out),
        "--input-size",
        "32",
        "--alpha",
        "0.25",
        "--minimalistic",
        "--batch-size",
        "4",
        "--crops-per-epoch",
        "8",
        "--epochs",
        "1",
        "--eval-every",
        "1",
        "--pseudo",
        str(synthetic),
        str(real),
    ]
    assert train.main(flags) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["pseudo"] == [str(synthetic), str(real)]
    assert json.loads((out / "history.json").read_text())[0]["step"] == 3  # (8 + 4 pseudo) / 4


def test_detector_self_trains_from_a_saved_detector_on_pseudo_labelled_pages(
    setup, everything, tiny_split_records, tmp_path
):
    """--init loads a saved detector's weights; --pseudo mixes in the pages of real scans; pages of the real
    test set are refused."""
    import keras

    from kuzushiji_tf.config import DetectorConfig
    from kuzushiji_tf.models.centernet import build_centernet

    out, _ = everything
    config = DetectorConfig(backbone="resnet_tiny", head_channels=16, input_size=64)
    saved = build_centernet("resnet_tiny", head_channels=16)
    saved(np.zeros((1, 64, 64, 3), np.float32))
    saved.save(tmp_path / "det.keras")
    task = DetectorTask(
        str(tiny_split_records), config, TrainConfig(), init=str(tmp_path / "det.keras"), pseudo_dir=str(out)
    )
    model = task.build_model()
    for mine, theirs in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))
    with pytest.raises(ValueError, match="do not fit a detector"):
        DetectorTask(
            str(tiny_split_records),
            DetectorConfig(backbone="resnet18"),
            TrainConfig(),
            init=str(tmp_path / "det.keras"),
        ).build_model()

    leaked = tmp_path / "leaked"
    leaked.mkdir()
    with tf.io.TFRecordWriter(str(leaked / "pages-train-00000-of-00001.tfrecord")) as writer:
        writer.write(
            schema.encode_page(
                image_jpeg=cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes(),
                image_id=LABELLED[0].stem,
                book="100241706",
                original_size=(8, 8),
                stored_size=(8, 8),
                scale=(1.0, 1.0),
                boxes=np.zeros((0, 4)),
                labels=[],
                codes=[],
            )
        )
    with pytest.raises(RealTestSetError, match=f"holds the real test page {LABELLED[0].stem}"):
        DetectorTask(str(tiny_split_records), config, TrainConfig(), pseudo_dir=[str(out), str(leaked)])
    with pytest.raises(FileNotFoundError, match="pages-\\* shard"):
        DetectorTask(
            str(tiny_split_records),
            config,
            TrainConfig(),
            pseudo_dir=str(write_crops(tmp_path / "crops", [0], "x_1", 9)),
        )


def test_det_unsure_marks_the_detections_between_the_two_scores_as_uncertain(setup, tmp_path, capsys):
    """The untrained tiny detector scores its peaks 0.506-0.522 on these scans, so the two thresholds split them."""
    runs = {}
    for name, extra in (
        ("both", ["--det-threshold", "0.513", "--det-unsure", "0.509"]),
        ("sure", ["--det-threshold", "0.513"]),
        ("all", ["--det-threshold", "0.509"]),
    ):
        assert label_scans(setup, tmp_path / name, "--max-per-class", "0", *extra) == 0
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        pages = {p["image_id"].numpy().decode(): p for p in pipeline.read_pages(tmp_path / name, None)}
        runs[name] = manifest, pages
    (manifest, pages), (sure_manifest, sure_pages), (_, all_pages) = runs["both"], runs["sure"], runs["all"]
    assert manifest["crops"] == sure_manifest["crops"]  # uncertain boxes are never crops

    def rows(boxes):
        return sorted(np.round(boxes, 3).tolist())

    for image_id, page in pages.items():
        labels, boxes = page["labels"].numpy(), page["boxes"].numpy()
        assert set(labels.tolist()) == {0, schema.UNCERTAIN_LABEL}  # the thresholds split this page
        assert rows(boxes[labels == 0]) == rows(sure_pages[image_id]["boxes"].numpy())
        assert rows(boxes) == rows(all_pages[image_id]["boxes"].numpy())
        entry = next(p for p in manifest["page_files"] if p["image_id"] == image_id)
        assert (entry["page_boxes"], entry["uncertain_boxes"]) == ((labels == 0).sum(), (labels < 0).sum())

    capsys.readouterr()
    assert label_scans(setup, tmp_path / "bad", "--det-threshold", "0.5", "--det-unsure", "0.5") == 2
    assert "det_unsure must be above 0 and below det_threshold (0.5); received 0.5" in capsys.readouterr().err
    records, models, _ = setup
    with pytest.raises(SystemExit):
        pseudo_tool.main(
            [
                "--detector",
                str(models / "det.keras"),
                "--classifier",
                str(models / "cls.keras"),
                "--records",
                str(records),
                "--out",
                str(tmp_path / "x"),
                "--det-unsure",
                "0.2",
            ]
        )
    assert "--det-unsure marks boxes in the scans' page records" in capsys.readouterr().err
