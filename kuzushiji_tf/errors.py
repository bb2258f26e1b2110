"""The project's one base class for a user's error (`KuzushijiError`).

Every command (`kuzushiji_tf.cli`) prints such an error's one-line message on stderr and exits 2, with no
traceback: the message says what is wrong and what to do. The errors that derive from it keep the builtin
they derived from before (`class ScanError(KuzushijiError, ValueError)`), so `except ValueError` still
catches them. Imports nothing: any module may raise one.
"""

from __future__ import annotations


class KuzushijiError(Exception):
    """A user error: bad input, a missing file; commands print its one-line message and exit 2."""
