"""Labelled pages in the formats they come in (Kaggle's CSVs, CODH's per-book folders), read and validated
into `structures.Page`s; Kaggle submissions; the book-grouped split. Plain Python, numpy and pandas."""
