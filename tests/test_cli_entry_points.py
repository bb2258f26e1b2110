"""The commands: one module of kuzushiji_tf/cli per command, each with `main(argv=None) -> int`; one console
command per module in pyproject.toml's [project.scripts], each pointing at that main; the installed commands,
the tools/*.py scripts and `python -m kuzushiji_tf.train|serve|demo` all answer --help."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kuzushiji_tf.cli import COMMANDS, command_name

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / "kuzushiji_tf" / "cli"
HELPERS = {"__init__", "args", "errors", "stages"}  # modules of kuzushiji_tf/cli that are not commands
SHIMS = ("train", "serve", "demo")  # python -m kuzushiji_tf.<stem>, as documented before the cli package


def pyproject_scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml: console command -> "module:function"."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10: the section is plain `name = "module:function"` lines
        section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, re.MULTILINE))
    return tomllib.loads(text)["project"]["scripts"]


def _help(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120, env=env)


def _help_all(commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess]:
    """`--help` of every command, two at a time (a few seconds in all: no command imports TensorFlow for it)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip(commands, pool.map(_help, commands.values())))


def test_every_cli_module_is_a_command_with_main():
    modules = {path.stem for path in CLI.glob("*.py")} - HELPERS
    assert modules == set(COMMANDS)
    for stem in COMMANDS:
        main = importlib.import_module(f"kuzushiji_tf.cli.{stem}").main
        parameters = list(inspect.signature(main).parameters.values())
        assert [p.name for p in parameters] == ["argv"] and parameters[0].default is None, stem


def test_every_pyproject_script_points_at_its_commands_main():
    scripts = pyproject_scripts()
    assert scripts == {command_name(stem): f"kuzushiji_tf.cli.{stem}:main" for stem in COMMANDS}
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function, None)), f"{name} = {target}"


def test_importing_a_command_loads_no_tensorflow():
    # --help and usage errors stay instant: each command imports TensorFlow inside main, if at all.
    code = (
        "import sys; "
        + "; ".join(f"import kuzushiji_tf.cli.{stem}" for stem in COMMANDS)
        + "; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_installed_console_commands_answer_help():
    scripts = pyproject_scripts()
    bin_dir = Path(sys.executable).parent
    paths = {name: bin_dir / (name + (".exe" if os.name == "nt" else "")) for name in scripts}
    if not any(path.is_file() for path in paths.values()):
        pytest.skip(
            f"no kuzushiji-* command in {bin_dir}: this environment was not installed from this "
            "pyproject.toml (pip install -e .[dev] installs them)"
        )
    assert [name for name, path in paths.items() if not path.is_file()] == []  # installed, but from an older list
    results = _help_all({name: [str(path)] for name, path in paths.items()})
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stdout.startswith(f"usage: {name} "), f"{name}: {result.stdout[:200]}"
        assert "Traceback" not in result.stderr, name


@pytest.mark.slow
def test_tools_scripts_and_module_shims_answer_help():
    tools = sorted((REPO / "tools").glob("*.py"))
    assert {path.stem for path in tools} <= set(COMMANDS) and len(tools) == len(set(COMMANDS) - set(SHIMS))
    commands = {f"tools/{path.name}": [sys.executable, str(path)] for path in tools}
    commands.update({f"-m kuzushiji_tf.{stem}": [sys.executable, "-m", f"kuzushiji_tf.{stem}"] for stem in SHIMS})
    commands.update(
        {f"-m kuzushiji_tf.cli.{stem}": [sys.executable, "-m", f"kuzushiji_tf.cli.{stem}"] for stem in SHIMS}
    )
    for path in tools:  # a wrapper, not a copy: the command's code lives in its cli module
        assert f"from kuzushiji_tf.cli.{path.stem} import main\n" in path.read_text(encoding="utf-8")
    results = _help_all(commands)
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stdout.startswith("usage: ") and "Traceback" not in result.stderr, name


def test_a_user_error_ends_every_command_with_one_line_and_status_2(capsys):
    from kuzushiji_tf.cli.errors import fail, user_errors
    from kuzushiji_tf.errors import KuzushijiError

    @user_errors("example")
    def main(argv: list[str] | None = None) -> int:
        raise KuzushijiError("data/train.csv:3: image_id 'x': bad box\n(more detail)")

    assert main([]) == 2
    assert capsys.readouterr().err == "example: error: data/train.csv:3: image_id 'x': bad box\n"
    assert fail("example", ValueError()) == 2 and capsys.readouterr().err == "example: error: ValueError()\n"


def test_user_facing_errors_are_kuzushiji_errors_and_keep_their_builtin():
    from kuzushiji_tf.cli.client import ClientError
    from kuzushiji_tf.datasets.kaggle_labels import LabelsError, LabelsFileError
    from kuzushiji_tf.datasets.kaggle_reader import BoxError, DataError
    from kuzushiji_tf.datasets.kaggle_submission import SubmissionError
    from kuzushiji_tf.errors import KuzushijiError
    from kuzushiji_tf.evaluation.metric import UnknownImageIdsError
    from kuzushiji_tf.evaluation.test_set import RealTestSetError
    from kuzushiji_tf.scans.images import ImageError
    from kuzushiji_tf.scans.source import ScanError
    from kuzushiji_tf.synthetic.fonts import FontNotFoundError
    from kuzushiji_tf.synthetic.npm_fonts import FontInstallError

    value_errors = (
        UnknownImageIdsError,
        LabelsError,
        LabelsFileError,
        BoxError,
        DataError,
        SubmissionError,
        RealTestSetError,
        ImageError,
        ScanError,
    )
    for error in value_errors:
        assert issubclass(error, KuzushijiError) and issubclass(error, ValueError), error
    for error in (FontNotFoundError, FontInstallError, ClientError):
        assert issubclass(error, KuzushijiError) and issubclass(error, RuntimeError), error
