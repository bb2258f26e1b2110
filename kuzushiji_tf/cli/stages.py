"""Running the project's own commands as stages of a longer job (`make demo`, `make release-model`).

Each stage is the command a user would type (printed before it runs as `kuzushiji-<stem> ...`), run as
`python -m kuzushiji_tf.cli.<stem>` with this Python in a process of its own, so a stage that crashes or is
killed takes only itself down and the printed commands double as the tutorial.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable

from kuzushiji_tf.cli import command_name


class StageFailed(RuntimeError):
    """A stage's command ended with a non-zero status (its output was printed above)."""


def printed_command(stem: str, arguments: list[str]) -> str:
    return shlex.join([command_name(stem), *arguments])


def _noise(line: str) -> bool:
    """TensorFlow's start-up lines about missing GPUs: every stage would repeat them."""
    return "cuda" in line.lower() or line.startswith(("E0000", "I0000", "W0000", "WARNING: All log"))


def run_stage(
    name: str, stem: str, arguments: list[str], echo: Callable[[str], None] | None = None
) -> tuple[str, float]:
    """Runs kuzushiji_tf.cli.<stem> with `arguments` in the current directory after printing it; each line of
    its output is printed indented (and passed to `echo`, e.g. a log file). Returns (output, seconds).

    Raises:
        StageFailed: the command failed.
    """
    echo = echo or (lambda _line: None)
    header = f"\n== {name}\n$ {printed_command(stem, arguments)}\n"
    print(header, end="", flush=True)
    echo(header)
    start = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", f"kuzushiji_tf.cli.{stem}", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        for line in process.stdout:
            if _noise(line):
                continue
            print("   " + line, end="", flush=True)
            echo("   " + line)
            lines.append(line)
        status = process.wait()
    except BaseException:  # Ctrl-C or a kill of this process: the stage must not outlive it
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if status != 0:
        raise StageFailed(f"stage '{name}' failed (exit {status}); see its output above")
    return "".join(lines), time.perf_counter() - start
