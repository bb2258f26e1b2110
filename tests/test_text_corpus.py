"""The text folder reader and the one document split that the language model and the generator share."""

from pathlib import Path

import pytest

from kuzushiji_tf.text.corpus import CorpusError, held_out_names, read_corpus, split_documents

SHARED_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "classical-text"


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_documents_are_split_by_name_within_each_folder(tmp_path):
    for k in range(12):
        _write(tmp_path, f"a/{k:02d}.txt", "いろは\n\nにほへと\n")
    _write(tmp_path, "b/only.txt", "ちりぬるを")
    docs = read_corpus([tmp_path])
    train, held = split_documents(docs)
    assert [d.name for d in held] == ["a/00.txt", "a/10.txt", "b/only.txt"]
    assert len(train) == 10 and not {d.name for d in train} & {d.name for d in held}
    assert docs[0].lines == ("いろは", "にほへと") and docs[0].folder == "a" and docs[0].chars == 7
    # The split does not depend on which other folders are read alongside.
    assert held_out_names(["a/00.txt", "a/01.txt"]) == {"a/00.txt"}


def test_bad_text_is_named(tmp_path):
    (tmp_path / "bad.txt").write_bytes("いろは".encode("cp932"))
    with pytest.raises(CorpusError, match=r"bad\.txt: not UTF-8"):
        read_corpus([tmp_path])
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no text"):
        read_corpus([empty])


@pytest.mark.skipif(not SHARED_TEXT.is_dir(), reason="the shared classical text is not here")
def test_the_classical_text_holds_out_documents_of_every_folder():
    docs = read_corpus([SHARED_TEXT])
    train, held = split_documents(docs)
    assert {d.folder for d in held} == {"edo", "classical", "bungo"}
    assert 0.1 < sum(d.chars for d in held) / sum(d.chars for d in docs) < 0.3
    assert {d.licence for d in docs} <= {"public domain", "CC BY-SA 4.0"}
