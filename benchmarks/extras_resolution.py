"""What an extra does to the core install: pip's resolution of `kuzushiji_tf` alone and with an extra
(default `beam`), in a dry run that installs nothing, and the packages whose versions differ.

    python benchmarks/extras_resolution.py            # core vs core + beam
    python benchmarks/extras_resolution.py --extra onnx
    python benchmarks/extras_resolution.py --quick    # the same two resolutions (~40 s here): nothing to cut

It needs the package index (PyPI, or pip's configured index); pip's cache makes a second run faster. pip
resolves a copy of the project's metadata (pyproject.toml, README.md, the package's __init__.py) in a temporary
folder, so the run writes nothing into the repository (resolving "." in place leaves kuzushiji_tf.egg-info).

It exits 1 when the two resolutions disagree on TensorFlow or Keras (the extra must not move them), and
prints the versions the extra changes (Beam: protobuf and Pillow, within TensorFlow's ranges).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

PINNED = ("tensorflow", "keras", "keras-hub")


# What pip reads to build the project's metadata (dependencies, extras); the rest is not needed to resolve.
METADATA_FILES = ("pyproject.toml", "README.md", "kuzushiji_tf/__init__.py")


def project_copy(root: Path) -> Path:
    """A copy of the files pip needs for the project's metadata, in `root` (pip builds it in place)."""
    project = root / "kuzushiji_tf_metadata"
    for name in METADATA_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(common.REPO / name, project / name)
    return project


def resolve(spec: str, cwd: Path = common.REPO) -> dict[str, str]:
    """{package: version} pip would install for `spec` (run in `cwd`) into an empty environment (a dry run)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        spec,
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"pip could not resolve {spec}:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--extra", default="beam")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    common.banner(
        "pip's resolution of the core install and of the core with an extra (dry runs)",
        args,
        {"pip": common.package_version(("pip",))},
    )
    if args.quick:
        print(
            "--quick: the same two resolutions as the full run (they take well under 3 minutes); "
            "--parallelism and --seed do not apply"
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_extras_") as tmp:
        project = project_copy(Path(tmp))
        core, extra = resolve(".", project), resolve(f".[{args.extra}]", project)
    print(f"resolved in {time.perf_counter() - started:.0f} s")
    print(f"core install: {len(core)} packages; with [{args.extra}]: {len(extra)} packages")
    for name in PINNED:
        print(f"  {name:12s} core {core.get(name)}  with [{args.extra}] {extra.get(name)}")
    changed = sorted(name for name in core if name in extra and core[name] != extra[name])
    print(f"versions [{args.extra}] changes ({len(changed)}):")
    for name in changed:
        print(f"  {name:24s} {core[name]:>12s} -> {extra[name]}")
    added = sorted(set(extra) - set(core))
    print(f"packages [{args.extra}] adds ({len(added)}): {', '.join(f'{n} {extra[n]}' for n in added)}")
    moved = [name for name in PINNED if core.get(name) != extra.get(name)]
    if moved:
        print(f"ERROR: [{args.extra}] moves {', '.join(moved)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
