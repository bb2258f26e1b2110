"""The command-line entry points: one module per command, each with `main(argv=None) -> int`.

`pip install` makes each a console command, `kuzushiji-<stem with - for _>` (pyproject.toml, [project.scripts]),
e.g. `kuzushiji-recognize` runs `kuzushiji_tf.cli.recognize:main`. `python -m kuzushiji_tf.cli.<stem>` and
the scripts `tools/<stem>.py` run the same function. Importing a command's module loads no TensorFlow, so
`--help` and usage errors answer at once; heavy imports wait inside `main`.

A user's error (`kuzushiji_tf.errors.KuzushijiError`, bad input or a missing file) ends a command with one
line on stderr and exit status 2 (`errors.user_errors`).
"""

# Every command's module stem; its console command is command_name(stem).
COMMANDS = (
    "build_lm",
    "build_records",
    "client",
    "demo",
    "detect",
    "evaluate",
    "export",
    "ink_statistics",
    "install_fonts",
    "launch_local_cluster",
    "make_submission",
    "make_synthetic",
    "measure_real",
    "package_model",
    "pseudo_label",
    "recognize",
    "release_model",
    "serve",
    "train",
    "transcribe",
    "tune_context",
    "visualize",
)


def command_name(stem: str) -> str:
    """The console command of the module `stem`: build_records -> kuzushiji-build-records."""
    return "kuzushiji-" + stem.replace("_", "-")
