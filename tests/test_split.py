"""Book-grouped folds: no book on both sides, deterministic, balanced, clear errors."""

import pytest

from kuzushiji_tf.datasets.book_split import assign_book_folds, split_pages
from kuzushiji_tf.structures import Page, book_of


def _pages(spec):
    return [Page(f"{book}_{i:05d}_1") for book, n in spec.items() for i in range(n)]


def test_book_is_the_id_up_to_the_first_underscore_or_dash():
    assert book_of("100241706_00004_2") == "100241706"
    assert book_of("umgy001-009") == "umgy001"
    assert book_of("200003076_00034_2") == "200003076"


def test_folds_group_books_and_cover_every_page_once():
    pages = _pages({"a": 7, "b": 5, "c": 5, "d": 3, "e": 2, "f": 2, "g": 1, "h": 1})
    seen = []
    for fold in range(4):
        train, val = split_pages(pages, fold=fold, num_folds=4)
        assert not {p.book for p in train} & {p.book for p in val}
        assert len(train) + len(val) == len(pages)
        seen += [p.image_id for p in val]
    assert sorted(seen) == sorted(p.image_id for p in pages)


def test_greedy_balance_is_as_documented():
    folds = assign_book_folds([p.image_id for p in _pages({"a": 7, "b": 5, "c": 5, "d": 3, "e": 2})], 3)
    # a(7)->0, b(5)->1, c(5)->2, d(3)->1 (5<7, tie with fold 2 broken low), e(2)->2
    assert folds == {"a": 0, "b": 1, "c": 2, "d": 1, "e": 2}


def test_assignment_ignores_input_order():
    ids = [p.image_id for p in _pages({"x": 3, "y": 2, "z": 2, "w": 1})]
    assert assign_book_folds(ids, 2) == assign_book_folds(list(reversed(ids)), 2)


def test_full_data_and_errors():
    pages = _pages({"a": 2, "b": 1})
    assert split_pages(pages, full_data=True) == (pages, [])
    with pytest.raises(ValueError, match="2 book\\(s\\) cannot fill 4 book-grouped folds; use --full-data"):
        split_pages(pages, num_folds=4)
    with pytest.raises(ValueError, match="fold must be in 0..1; received 2"):
        split_pages(pages, fold=2, num_folds=2)
