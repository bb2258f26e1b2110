"""Labelled pages in the formats they come in (Kaggle's CSVs, CODH's per-book folders, PAGE-XML and ALTO files
beside page images), read and validated into `structures.Page`s, and which of them a folder holds; Kaggle
submissions; the book-grouped split. Plain Python, numpy, pandas and lxml."""
