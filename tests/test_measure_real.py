"""tools/measure_real.py and kuzushiji_tf.measure.real_pages on the 5 bundled real pages: the classifier
metric with a classifier whose answers the test decides, the three rows end to end with tiny untrained
models, and the one-line errors."""

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import SAMPLE_DIR, export_tiny_page_model, make_kaggle_dir, save_training_folders, tiny_page_models
from kuzushiji_tf.backends.tf.page_recognizer import crop_characters, decode_page_image
from kuzushiji_tf.cli import measure_real as tool
from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
from kuzushiji_tf.datasets.kaggle_reader import read_train
from kuzushiji_tf.measure import real_pages as real
from kuzushiji_tf.structures import code_to_char
from kuzushiji_tf.synthetic.charset import is_kana

PAGES = read_train(SAMPLE_DIR).pages


class ScriptedClassifier:
    """Answers each crop from a script of true codes (pages in order, characters in train.csv order): kana
    get their true class first, kanji a wrong class first and the true one second. Keeps the crops it saw."""

    def __init__(self, vocabulary, script, input_size=24):
        self.input_shape = (None, input_size, input_size, 3)
        self.num_classes = len(vocabulary)
        self.index = {code: i for i, code in enumerate(vocabulary)}
        self.script, self.seen = list(script), []

    def __call__(self, crops, training=False):
        assert training is False
        self.seen.append(np.asarray(crops))
        probabilities = np.full((len(crops), self.num_classes), 1e-4, np.float32)
        for row in range(len(crops)):
            code = self.script.pop(0)
            true = self.index.get(code)
            wrong = ((true if true is not None else 0) + 1) % self.num_classes
            if is_kana(code_to_char(code)) and true is not None:
                probabilities[row, true] = 0.9
            else:
                probabilities[row, wrong] = 0.9
                if true is not None:
                    probabilities[row, true] = 0.05
        return {"probabilities": tf.constant(probabilities), "logits": tf.constant(np.log(probabilities))}


def test_classifier_scores_kana_right_kanji_wrong_on_library_crops(monkeypatch):
    codes = real.true_codes(PAGES)
    kana = sum(is_kana(code_to_char(c)) for c in codes)
    assert len(codes) == 464 and 0 < kana < len(codes)
    vocabulary = sorted(set(codes))
    cut = []

    def spy(image, boxes, size, factor=None):
        cut.append((len(boxes), size, factor))
        return crop_characters(image, boxes, size, factor)

    monkeypatch.setattr(real, "crop_characters", spy)
    model = ScriptedClassifier(vocabulary, codes)
    scores = real.measure_classifier(model, vocabulary, PAGES, batch_size=64, progress=False)
    assert model.script == []  # one answer per true box, no more
    assert scores.kana.top1 == 1.0 and scores.kanji.top1 == 0.0
    assert (scores.kana.count, scores.kanji.count, scores.overall.count) == (kana, len(codes) - kana, len(codes))
    assert scores.overall.top1 == pytest.approx(kana / len(codes))
    assert scores.overall.top5 == 1.0 and scores.in_vocabulary_share == 1.0
    # Crops: the library's function at the inference factor and the classifier's size, in batches of 64.
    assert {(size, factor) for _, size, factor in cut} == {(24, INFERENCE_CROP_FACTOR)}
    assert sum(n for n, _, _ in cut) == len(codes) and max(n for n, _, _ in cut) == 64
    page = PAGES[0]
    image = decode_page_image(tf.constant(page.image_path.read_bytes()))
    boxes = tf.constant([c.box for c in page.chars[:64]], tf.float32)
    expected = crop_characters(image, boxes, 24, INFERENCE_CROP_FACTOR).numpy()
    np.testing.assert_array_equal(model.seen[0], expected)

    # A kanji missing from the vocabulary is wrong at every rank and lowers the in-vocabulary share.
    dropped = next(c for c in vocabulary if not is_kana(code_to_char(c)))
    smaller = [c for c in vocabulary if c != dropped]
    missing = codes.count(dropped)
    scores = real.measure_classifier(ScriptedClassifier(smaller, codes), smaller, PAGES, progress=False)
    assert scores.kana.top1 == 1.0 and scores.kanji.top1 == 0.0
    assert scores.in_vocabulary == len(codes) - missing
    assert scores.overall.top5 == pytest.approx(1 - missing / len(codes))
    assert scores.known.top5 == 1.0


def test_score_classifier_counts_top1_top5_and_unknown_codes():
    vocabulary = ["U+3042", "U+3044", "U+4E00", "U+4E8C", "U+4E09", "U+56DB"]
    codes = ["U+3042", "U+3044", "U+4E00", "U+4E8C", "U+9999"]  # あ い 一 二, and one unknown kanji
    ranked = np.array(
        [
            [0, 1, 2, 3, 4],  # あ right
            [0, 2, 3, 4, 5],  # い wrong, not in the top 5
            [3, 2, 0, 1, 4],  # 一 second: top-5 only
            [3, 0, 1, 2, 4],  # 二 right
            [0, 1, 2, 3, 4],
        ]
    )  # unknown: wrong whatever the ranking
    scores = real.score_classifier(codes, vocabulary, ranked)
    assert (scores.overall.count, scores.overall.top1_correct, scores.overall.top5_correct) == (5, 2, 3)
    assert (scores.kana.count, scores.kana.top1_correct, scores.kana.top5_correct) == (2, 1, 1)
    assert (scores.kanji.count, scores.kanji.top1_correct, scores.kanji.top5_correct) == (3, 1, 2)
    assert scores.in_vocabulary == 4 and scores.in_vocabulary_share == 0.8 and scores.known.top1 == 0.5


def test_detector_short_side_comes_from_its_config(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"")
    assert real.detector_short_side(tmp_path) == 832
    (tmp_path / "config.json").write_text(json.dumps({"task": "detector", "model": {"eval_short_side": 96}}))
    assert real.detector_short_side(tmp_path) == 96


class _TwoCharacters:
    """A PageModel that finds, on every page, its first two true characters (or none), the first sure
    (0.9) and the second not (0.2), with the right codes."""

    def __init__(self, pages, cls_threshold=0.5):
        from kuzushiji_tf.recognition.contract import RecognizerOptions

        self.options = RecognizerOptions(cls_threshold=cls_threshold, top_k=1)
        self.by_bytes = {open(p.image_path, "rb").read(): p for p in pages}

    def __call__(self, images):
        from kuzushiji_tf.recognition import contract as c

        out = {key: [] for key in c.OUTPUT_KEYS}
        for image in images:
            chars = self.by_bytes[image].chars[:2]
            codes = [ch.code for ch in chars] + ["U+3042"] * (2 - len(chars))
            out[c.CODES].append([code.encode() for code in codes])
            out[c.CODEPOINTS].append([int(code[2:], 16) for code in codes])
            out[c.OUT_BOXES].append([list(ch.box) for ch in chars] + [[0, 0, 1, 1]] * (2 - len(chars)))
            out[c.DET_SCORES].append([0.8, 0.8])
            out[c.CLASS_PROBS].append([0.9, 0.2])
            out[c.TOPK_CLASS_IDS].append([[0], [0]])
            out[c.TOPK_CODEPOINTS].append([[p] for p in out[c.CODEPOINTS][-1]])
            out[c.TOPK_PROBS].append([[0.9], [0.2]])
            out[c.COUNT].append(len(chars))
        return {key: np.asarray(value) for key, value in out.items()}


def test_the_research_output_is_scored_with_every_character_and_kaggle_without_the_unsure(tmp_path):
    pages = real.labelled_pages(make_kaggle_dir(tmp_path / "kaggle"))
    found = real.measure_recognizer(_TwoCharacters(pages), pages, progress=False)
    total = sum(len(p.chars) for p in pages)
    sure = sum(1 for p in pages if p.chars)  # each page's first character
    unsure = sum(1 for p in pages if len(p.chars) > 1)  # its second, under the class threshold
    assert (found.detection.tp, found.detection.fp, found.detection.fn) == (sure, 0, total - sure)
    assert (found.labelled.tp, found.labelled.fn) == (sure, total - sure)
    research = found.research_detection
    assert (research.tp, research.fp, research.fn) == (sure + unsure, 0, total - sure - unsure)
    assert research.recall > found.detection.recall and research.precision == 1.0
    # A class threshold of 0 drops nothing: both figures agree.
    everything = real.measure_recognizer(_TwoCharacters(pages, cls_threshold=0.0), pages, progress=False)
    assert everything.detection == everything.research_detection == research


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    det_dir, cls_dir = save_training_folders(*tiny_page_models(), root)
    return {"classifier": cls_dir, "detector": det_dir, "recognizer": export_tiny_page_model(root, max_chars=300)}


def _in_unit_interval(score: dict) -> bool:
    return all(0.0 <= score[k] <= 1.0 for k in ("precision", "recall", "f1"))


@pytest.mark.slow
def test_all_rows_end_to_end_on_the_real_pages(tiny_models, tmp_path, capsys):
    out, table = tmp_path / "figures" / "real.json", tmp_path / "ablation.md"
    args = [
        "--classifier",
        str(tiny_models["classifier"]),
        "--detector",
        str(tiny_models["detector"]),
        "--recognizer",
        str(tiny_models["recognizer"]),
        "--short-side",
        "128",
        "--label",
        "tiny | untrained",
        "--json",
        str(out),
        "--append-table",
        str(table),
        "--quiet",
    ]
    assert tool.main(args) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert (figures["pages"], figures["characters"], figures["label"]) == (5, 464, "tiny | untrained")
    c = figures["classifier"]
    assert c["overall"]["count"] == 464 and c["kana"]["count"] + c["kanji"]["count"] == 464
    assert c["input_size"] == 32 and c["classes"] == 3
    # あ, い and か are the only codes the tiny classifier knows.
    known = sum(code in {"U+3042", "U+3044", "U+304B"} for code in real.true_codes(PAGES))
    assert c["in_vocabulary"] == known and 0 < known < 464
    assert all(0.0 <= c[g]["top1"] <= c[g]["top5"] <= 1.0 for g in ("overall", "kana", "kanji"))
    assert c["overall"]["top1_correct"] <= known
    d = figures["detector"]
    assert d["short_side"] == 128 and _in_unit_interval(d["detection"])
    assert d["detection"]["tp"] + d["detection"]["fn"] == 464 and d["detection"]["tp"] + d["detection"]["fp"] > 0
    r = figures["recognizer"]
    assert _in_unit_interval(r["labelled"]) and _in_unit_interval(r["detection"])
    assert r["labelled"]["tp"] <= r["detection"]["tp"] and r["detection"]["tp"] + r["detection"]["fn"] == 464
    # The research output keeps every detection: it finds at least what the Kaggle submission keeps.
    research = r["research_detection"]
    assert _in_unit_interval(research) and research["tp"] + research["fn"] == 464
    assert (
        research["tp"] >= r["detection"]["tp"]
        and research["tp"] + research["fp"] >= r["detection"]["tp"] + r["detection"]["fp"]
    )
    # The row accumulates under one header; the label's "|" is escaped.
    assert tool.main(args[:2] + ["--label", "second", "--append-table", str(table), "--quiet"]) == 0
    lines = table.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[0].startswith("| label | cls top-1 | kana | kanji | det F1 | Kaggle F1")
    first = [cell.strip() for cell in lines[2].strip("|").split(" | ")]
    assert first == [
        "tiny \\| untrained",
        f"{c['overall']['top1']:.3f}",
        f"{c['kana']['top1']:.3f}",
        f"{c['kanji']['top1']:.3f}",
        f"{d['detection']['f1']:.3f}",
        f"{r['labelled']['f1']:.3f}",
        f"{r['detection']['f1']:.3f}",
    ]
    assert lines[3].startswith("| second | ") and lines[3].endswith(" | – | – | – |")
    printed = capsys.readouterr().out
    assert "detection-only, research" in printed and "detection-only, Kaggle" in printed
    assert "Kaggle (labelled)" in printed and "kana" in printed and "detector" in printed and "s)" in printed


@pytest.mark.parametrize("flag", ["--classifier", "--detector", "--recognizer"])
def test_missing_model_folder_is_a_one_line_error(flag, tmp_path, capsys):
    missing = tmp_path / "no_such_model"
    assert tool.main([flag, str(missing), "--json", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("measure_real: error:") and str(missing) in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_missing_data_folder_and_model_file_are_one_line_errors(tiny_models, tmp_path, capsys):
    assert tool.main(["--recognizer", str(tiny_models["recognizer"]), "--data-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nope") in err and "data folder" in err
    (tmp_path / "empty").mkdir()
    assert tool.main(["--classifier", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "empty") in err and "model.keras" in err
