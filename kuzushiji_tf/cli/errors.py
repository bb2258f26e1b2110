"""How every command ends on a user's error: one line `<prog>: error: <message>` on stderr, exit status 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from kuzushiji_tf.errors import KuzushijiError

USAGE_ERROR = 2  # the exit status of a user's error, as argparse's own


def fail(prog: str, error: BaseException | str) -> int:
    """Prints `prog: error: <the error's first line>` on stderr and returns USAGE_ERROR, for `return fail(...)`."""
    text = str(error)
    message = text.splitlines()[0] if text.strip() else repr(error)
    print(f"{prog}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def user_errors(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorates a command's `main`: a KuzushijiError that gets out of it becomes `fail(prog, error)`."""

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(argv: list[str] | None = None) -> int:
            try:
                return main(argv)
            except KuzushijiError as error:
                return fail(prog, error)

        return wrapped

    return decorate
