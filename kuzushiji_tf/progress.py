"""A dependency-free progress line for long loops: redrawn in place on a terminal, a line every few
seconds in logs (CI, nohup) so files stay readable."""

from __future__ import annotations

import sys
import time


class Progress:
    """`with Progress(total, "pages") as bar: bar.update(1)`; prints count, rate and ETA to stderr."""

    def __init__(
        self, total: int, unit: str, *, label: str = "", stream=None, enabled: bool = True, log_every_s: float = 10.0
    ):
        self.total, self.unit, self.label = total, unit, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interactive = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every_s = log_every_s
        self.done = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        return self.done / max(self.elapsed, 1e-9)

    def _line(self) -> str:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        eta = (self.total - self.done) / self.rate if self.done else float("nan")
        eta_text = f"{eta:5.0f}s left" if eta == eta else "   ?s left"
        return (
            f"{self.label}[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.unit} "
            f"{self.rate:6.2f} {self.unit}/s {eta_text}"
        )

    def update(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.interactive and (now - self._last_draw > 0.1 or self.done >= self.total):
            self.stream.write("\r" + self._line())
            self.stream.flush()
            self._last_draw = now
        elif not self.interactive and now - self._last_draw > self.log_every_s:
            self.stream.write(self._line() + "\n")
            self._last_draw = now

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stream.write(("\r" if self.interactive else "") + self._line() + f" in {self.elapsed:.1f}s\n")
            self.stream.flush()
