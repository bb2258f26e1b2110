"""The page record itself as JSON: the project's own, lossless format (every score, the codes)."""

from __future__ import annotations

import json

from kuzushiji_tf.formats.source import PageSource


def render(record: dict, source: PageSource | None = None) -> str:
    # Byte for byte what folder_recognition has always written, so earlier runs' files stay comparable.
    return json.dumps(record, ensure_ascii=False, indent=1)
