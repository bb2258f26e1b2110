"""The character language model (kuzushiji_tf.language_model): tokens, the Kneser-Ney estimates against a
hand computation and a plain reference implementation, sums to 1, files, the build command, the shipped model."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from kuzushiji_tf.cli.build_lm import main as build_lm
from kuzushiji_tf.language_model.ngram import LanguageModelError, NgramModel, perplexity, shipped_model
from kuzushiji_tf.language_model.tokens import BOUNDARY, UNKNOWN, encode_line, encode_lines, line_tokens, vocabulary
from kuzushiji_tf.structures import char_to_code

SHARED_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "classical-text"
TOY = ("<unk>", "<s>", "a", "b", "c", "d")


def ids(text: str) -> list[int]:
    index = {code: k for k, code in enumerate(vocabulary())}
    return [index[char_to_code(c)] for c in text]


def random_sequences(seed: int = 0, n: int = 80, size: int = len(TOY)) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    seqs = [[BOUNDARY, *rng.integers(0, size, size=int(rng.integers(1, 14))).tolist()] for _ in range(n)]
    return [[t if k == 0 or t != BOUNDARY else 2 for k, t in enumerate(seq)] for seq in seqs]


# --- tokens ------------------------------------------------------------------------------------------------


def test_vocabulary_is_the_recogniser_classes_after_unknown_and_boundary():
    vocab = vocabulary()
    assert vocab[:2] == ("<unk>", "<s>") and len(vocab) == 2 + 4781 and len(set(vocab)) == len(vocab)
    assert vocab[2].startswith("U+") and "U+304B" in vocab


def test_punctuation_and_spaces_are_dropped_unknown_characters_are_unknown():
    # 、 is not in the table, 。「」・ are: all are an editor's marks and dropped; ★ is a symbol outside it.
    assert line_tokens("かな、「のは」。・ 　★") == ids("かなのは")
    assert line_tokens("〽○か") == ids("〽○か")  # the song mark and printed symbols of the table stay
    assert line_tokens("か党な") == [*ids("か"), UNKNOWN, *ids("な")]  # 党 is no class of the recogniser
    assert line_tokens("〇") == ids("〇")  # U+3007 is a class (its table row says "0")


def test_aozora_repeat_mark_becomes_the_tables_one_mark():
    assert line_tokens("いよ〳〵") == ids("いよ〱")
    assert line_tokens("しみ〴〵") == ids("しみ〲")
    assert line_tokens("〳か〵") == ids("〱か")


def test_lines_start_with_boundary_and_empty_ones_are_skipped():
    assert encode_line("かな") == [BOUNDARY, *ids("かな")]
    assert encode_lines(["。、", "か"]) == [[BOUNDARY, *ids("か")]]


# --- estimates ---------------------------------------------------------------------------------------------


def test_a_hand_computed_bigram_model():
    # Lines "<s> a b" and "<s> a". Unigrams use continuation counts: a follows only <s>, b only a: 1 each;
    # too few counts for Chen-Goodman's estimates, so D = 0.5: gamma = 0.5 * 2 / 2, and over the 3
    # predicted tokens (<unk>, a, b; <s> never) p1(a) = p1(b) = 0.5/2 + 0.5/3 = 5/12, p1(<unk>) = 1/6.
    # Bigrams (raw counts <s>a: 2, ab: 1): t1 = t2 = 1, Y = 1/3, D1 = 1 - 2Y = 1/3; D2 has no t3: 1.0.
    # After <s>: p(a) = (2-1)/2 + 1/2 * 5/12 = 17/24, p(b) = 1/2 * 5/12, p(<unk>) = 1/2 * 1/6.
    # After a: gamma = 1/3, p(b) = 2/3 + 1/3 * 5/12 = 29/36, p(a) = 1/3 * 5/12 = 5/36.
    model = NgramModel.build([[1, 2, 3], [1, 2]], ("<unk>", "<s>", "a", "b"), order=2)
    expected = {
        (1, 2): 17 / 24,
        (1, 3): 5 / 24,
        (1, 0): 1 / 12,
        (2, 3): 29 / 36,
        (2, 2): 5 / 36,
        (2, 0): 1 / 18,
        (3, 2): 5 / 12,
        (3, 0): 1 / 6,
    }
    for (history, token), p in expected.items():
        assert math.exp(model.log_prob([history], token)) == pytest.approx(p, rel=1e-6), (history, token)
    assert model.log_prob([2], BOUNDARY) == -math.inf
    assert math.exp(model.log_prob([], 2)) == pytest.approx(5 / 12, rel=1e-6)


def reference_kn(sequences, size: int, order: int):
    """Interpolated modified Kneser-Ney written out with dicts, as in Chen and Goodman (1998): the test's
    independent reference. Returns p(token, history tuple)."""
    counts = [Counter() for _ in range(order + 1)]
    for seq in sequences:
        for n in range(1, order + 1):
            for i in range(len(seq) - n + 1):
                counts[n][tuple(seq[i : i + n])] += 1
    left = [defaultdict(set) for _ in range(order + 1)]
    for n in range(2, order + 1):
        for gram in counts[n]:
            left[n - 1][gram[1:]].add(gram[0])
    adjusted = [dict() for _ in range(order + 1)]
    for n in range(1, order + 1):
        for gram, c in counts[n].items():
            if gram[-1] == BOUNDARY:
                continue
            adjusted[n][gram] = c if n == order or gram[0] == BOUNDARY else len(left[n][gram])

    def discounts(values):
        t = Counter(min(v, 5) for v in values)
        d = [0.5, 1.0, 1.5]
        if t[1] and t[2]:
            y = t[1] / (t[1] + 2 * t[2])
            for k in (1, 2, 3):
                if t[k] and t[k + 1]:
                    d[k - 1] = min(max(k - (k + 1) * y * t[k + 1] / t[k], 0.0), float(k))
        return d

    ds = [None] + [discounts(adjusted[n].values()) for n in range(1, order + 1)]

    def disc(n, c):
        return 0.0 if c == 0 else ds[n][min(c, 3) - 1]

    def p(token, history):
        history = tuple(history[-(order - 1) :]) if order > 1 else ()
        if token == BOUNDARY:
            return 0.0
        n = len(history) + 1
        by_context = {g: a for g, a in adjusted[n].items() if g[:-1] == history}
        if n == 1:
            total = sum(by_context.values())
            gamma = sum(disc(1, a) for a in by_context.values()) / total
            a = by_context.get((token,), 0)
            return (a - disc(1, a)) / total + gamma / (size - 1)
        lower = p(token, history[1:])
        total = sum(by_context.values())
        if not total:
            return lower
        gamma = sum(disc(n, a) for a in by_context.values()) / total
        a = by_context.get((*history, token), 0)
        return (a - disc(n, a)) / total + gamma * lower

    return p


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_unpruned_model_equals_the_reference_implementation(order):
    seqs = random_sequences(seed=order)
    model = NgramModel.build(seqs, TOY, order)
    reference = reference_kn(seqs, len(TOY), order)
    for history in itertools.chain([()], itertools.product(range(len(TOY)), repeat=max(order - 1, 0))):
        got = np.exp(model.distribution(list(history)).astype(np.float64))
        want = np.array([reference(t, history) for t in range(len(TOY))])
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-9, err_msg=str(history))


@pytest.mark.parametrize("order,prune", [(1, ()), (2, ()), (3, ()), (3, (1,)), (4, (0, 1)), (4, (1, 2, 3))])
def test_probabilities_sum_to_one_over_the_vocabulary(order, prune):
    model = NgramModel.build(random_sequences(), TOY, order, prune)
    histories = [[], [BOUNDARY], [UNKNOWN], [BOUNDARY, 2, 3], [3, 3, 3, 3, 3], [0, 5, 4, 2], [5, 5]]
    for history in histories:
        probs = np.exp(model.log_probs(history, range(len(TOY))).astype(np.float64))
        assert probs.sum() == pytest.approx(1.0, abs=1e-5), history
        assert probs[BOUNDARY] == 0 and (np.delete(probs, BOUNDARY) > 0).all()


def test_pruning_keeps_fewer_ngrams_and_score_agrees_with_log_prob():
    seqs = random_sequences(seed=3, n=200)
    full, pruned = NgramModel.build(seqs, TOY, 4), NgramModel.build(seqs, TOY, 4, (1, 2))
    assert all(p <= f for p, f in zip(pruned.ngram_counts, full.ngram_counts))
    assert sum(pruned.ngram_counts) < sum(full.ngram_counts)
    for model in (full, pruned):
        one_by_one = [0.0 if t == BOUNDARY else model.log_prob(seq[:i], t) for seq in seqs for i, t in enumerate(seq)]
        np.testing.assert_allclose(model.score(seqs), one_by_one, atol=1e-5)
    assert perplexity(full, seqs) < perplexity(NgramModel.build(seqs, TOY, 1), seqs)


def test_only_the_last_order_minus_one_ids_of_a_history_matter():
    model = NgramModel.build(random_sequences(), TOY, 3)
    assert model.log_prob([5, 4, 2, 3], 2) == model.log_prob([2, 3], 2)
    assert model.index("b") == 3 and model.index("U+9999") == UNKNOWN


def test_bad_build_arguments_are_refused():
    with pytest.raises(ValueError, match="must not decrease"):
        NgramModel.build(random_sequences(), TOY, 3, (2, 1))
    with pytest.raises(ValueError, match="token ids"):
        NgramModel.build([[1, 9]], TOY, 2)


# --- files -------------------------------------------------------------------------------------------------


def test_save_load_round_trip_and_building_is_deterministic(tmp_path):
    seqs = random_sequences(seed=5, n=150)
    model = NgramModel.build(seqs, TOY, 4, (0, 1), meta={"note": "テスト"})
    path = model.save(tmp_path / "a.lm")
    loaded = NgramModel.load(path)
    assert loaded.order == 4 and loaded.vocabulary == TOY and loaded.meta["note"] == "テスト"
    assert loaded.ngram_counts == model.ngram_counts
    for history in itertools.product(range(len(TOY)), repeat=3):
        np.testing.assert_array_equal(loaded.distribution(history), model.distribution(history))
    again = NgramModel.build(seqs, TOY, 4, (0, 1), meta={"note": "テスト"}).save(tmp_path / "b.lm")
    assert again.read_bytes() == path.read_bytes()


def test_a_file_that_is_not_a_model_is_refused_with_its_name(tmp_path):
    junk = tmp_path / "junk.lm"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(LanguageModelError, match="junk.lm: not a kuzushiji_tf language model"):
        NgramModel.load(junk)
    with pytest.raises(LanguageModelError, match="missing.lm: no such"):
        NgramModel.load(tmp_path / "missing.lm")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(LanguageModelError, match="other.npz: not a kuzushiji_tf language model"):
        NgramModel.load(other)
    good = NgramModel.build(random_sequences(), TOY, 2).save(tmp_path / "good.lm")
    truncated = tmp_path / "truncated.lm"
    truncated.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(LanguageModelError, match="truncated.lm"):
        NgramModel.load(truncated)


def test_a_newer_format_version_is_refused_with_a_hint(tmp_path):
    path = NgramModel.build(random_sequences(), TOY, 2).save(tmp_path / "m.lm")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes())
    meta["format_version"] = 99
    arrays = {name[:-4]: np.load(__import__("io").BytesIO(raw)) for name, raw in members.items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "new.npz", **arrays)
    with pytest.raises(LanguageModelError, match=r"new.npz: language model format version 99.*kuzushiji-build-lm"):
        NgramModel.load(tmp_path / "new.npz")


# --- the command -------------------------------------------------------------------------------------------


def write_corpus(root: Path) -> Path:
    lines = [
        "いろはにほへとちりぬるを",
        "わかよたれそつねならむ",
        "うゐのおくやまけふこえて",
        "あさきゆめみしゑひもせす",
    ]
    for k in range(12):
        folder = root / ("edo" if k % 2 else "bungo")
        folder.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines[(k + j) % 4] + "、。" for j in range(3))
        (folder / f"doc{k:02d}.txt").write_text(text, encoding="utf-8")
    return root


def test_build_command_end_to_end(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    out, report = tmp_path / "tiny.lm", tmp_path / "report.json"
    assert build_lm([str(corpus), "--order", "3", "--prune", "0,1", "--out", str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "tiny.lm: order 3" in printed and "edo" in printed and "bungo" in printed
    model = NgramModel.load(out)
    assert model.order == 3 and model.meta["prune"] == [0, 1] and model.vocabulary == vocabulary()
    held_out = json.loads(report.read_text(encoding="utf-8"))["held_out"]
    assert set(held_out) == {"bungo", "edo", "all"}
    assert held_out["edo"]["documents"] == 1 and held_out["all"]["documents"] == 2
    assert held_out["edo"]["characters"] == sum(
        len(line) for line in ["わかよたれそつねならむ", "うゐのおくやまけふこえて", "あさきゆめみしゑひもせす"]
    )
    assert len(model.meta["documents_built_from"]) == 10 and "edo/doc01.txt" not in model.meta["documents_built_from"]
    assert build_lm([str(corpus), "--order", "2", "--all-documents", "--out", str(tmp_path / "all.lm"), "--quiet"]) == 0
    assert len(NgramModel.load(tmp_path / "all.lm").meta["documents_built_from"]) == 12


def test_build_command_errors_are_one_line_naming_the_file(tmp_path, capsys):
    assert build_lm([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.lm")]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    folder = write_corpus(tmp_path / "corpus")
    (folder / "edo" / "cp932.txt").write_bytes("かな".encode("cp932"))
    assert build_lm([str(folder), "--out", str(tmp_path / "x.lm")]) == 2
    err = capsys.readouterr().err
    assert "cp932.txt: not UTF-8 text" in err and err.count("\n") == 1
    punctuation = tmp_path / "punctuation" / "a"
    punctuation.mkdir(parents=True)
    for k in range(3):
        (punctuation / f"{k}.txt").write_text("、。「」\n", encoding="utf-8")
    assert build_lm([str(punctuation.parent), "--out", str(tmp_path / "x.lm")]) == 2
    assert "no character of the recogniser's classes in the 2 documents" in capsys.readouterr().err
    assert not (tmp_path / "x.lm").exists()
    with pytest.raises(SystemExit):
        build_lm([str(folder), "--out", "x.lm", "--prune", "3,1"])
    assert "must not decrease" in capsys.readouterr().err


def test_the_package_loads_no_tensorflow():
    code = "import sys, kuzushiji_tf.language_model.build, kuzushiji_tf.cli.build_lm; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- the shipped model -------------------------------------------------------------------------------------


def test_the_shipped_model_loads_once_and_answers_queries():
    import kuzushiji_tf.language_model as package

    model = package.shipped_model()
    assert model is shipped_model() and model.vocabulary == vocabulary() and 3 <= model.order <= 6
    assert (model.BOUNDARY, model.UNKNOWN, package.NgramModel) == (BOUNDARY, UNKNOWN, NgramModel)
    history = [BOUNDARY, *ids("むかし")]
    probs = np.exp(model.log_probs(history, range(len(model))).astype(np.float64))
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert model.log_prob([BOUNDARY, *ids("ござ")], ids("り")[0]) > model.log_prob(
        [BOUNDARY, *ids("ござ")], ids("を")[0]
    )


@pytest.mark.skipif(not SHARED_TEXT.is_dir(), reason="the shared classical text is not here")
def test_the_shipped_model_beats_a_unigram_model_on_held_out_text():
    from kuzushiji_tf.language_model.build import document_sequences
    from kuzushiji_tf.text.corpus import read_corpus, split_documents

    train, held = split_documents(read_corpus([SHARED_TEXT]))
    unigram = NgramModel.build(document_sequences(train), vocabulary(), 1)
    model = shipped_model()
    assert not {doc.name for doc in held} & set(model.meta["documents_built_from"])
    for folder in ("edo", "classical", "bungo"):
        sequences = document_sequences([doc for doc in held if doc.folder == folder])
        assert perplexity(model, sequences) < 0.6 * perplexity(unigram, sequences), folder


def test_half_precision_files_are_smaller_and_still_normalised(tmp_path):
    seqs = random_sequences(seed=7, n=400, size=len(TOY))
    full = NgramModel.build(seqs, TOY, 4)
    half = NgramModel.build(seqs, TOY, 4, half=True)
    assert half.save(tmp_path / "h.lm").stat().st_size < full.save(tmp_path / "f.lm").stat().st_size
    loaded = NgramModel.load(tmp_path / "h.lm")
    for history in itertools.product(range(len(TOY)), repeat=3):
        np.testing.assert_array_equal(loaded.distribution(history), half.distribution(history))
        assert np.exp(half.distribution(history).astype(np.float64)).sum() == pytest.approx(1.0, abs=2e-3)
        np.testing.assert_allclose(half.distribution(history), full.distribution(history), atol=0.02)
    assert perplexity(half, seqs) == pytest.approx(perplexity(full, seqs), rel=2e-3)


def test_one_model_answers_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    model = NgramModel.build(random_sequences(seed=9, n=300), TOY, 4)
    histories = [list(h) for h in itertools.product(range(len(TOY)), repeat=3)]
    expected = [model.distribution(h).copy() for h in histories]
    model._cache.clear()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda h: model.log_probs(h, range(len(TOY))), histories * 20))
    for k, values in enumerate(got):
        np.testing.assert_array_equal(values, expected[k % len(histories)])


def test_a_model_of_no_text_is_uniform():
    model = NgramModel.build([], TOY, 3)
    assert model.ngram_counts == [len(TOY), 0, 0]
    np.testing.assert_allclose(np.exp(model.log_probs([BOUNDARY, 2], [0, 2, 3, 4, 5])), 0.2, rtol=1e-6)
