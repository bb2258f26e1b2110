"""Plain text: the transcription, one column a line in reading order."""

from __future__ import annotations

from kuzushiji_tf.formats.source import PageSource


def page_text(record: dict) -> str:
    """The transcription: one column a line, in reading order (an empty page is an empty text)."""
    return "".join(column + "\n" for column in record["columns"])


def render(record: dict, source: PageSource | None = None) -> str:
    return page_text(record)
