"""The user's cache folder for what the package can rebuild at any time (the fonts' glyph coverage, the
shipped model rebuilt from its weights): $KUZUSHIJI_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, then
kuzushiji_tf/. Deleting it costs only the time to rebuild. Imports nothing of the project: any module may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "KUZUSHIJI_CACHE_DIR"
CACHE_OFF = "off"  # $KUZUSHIJI_CACHE_DIR=off: keep nothing between runs


def cache_dir(*parts: str) -> Path | None:
    """`<cache root>/<parts...>` (not created here), or None when the cache is turned off."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root == CACHE_OFF:
        return None
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kuzushiji_tf"
    return Path(root).expanduser().joinpath(*parts)
