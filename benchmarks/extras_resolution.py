"""What an extra does to the core install: pip's resolution of `kuzushiji_tf` alone and with an extra
(default `beam`), in a dry run that installs nothing, and the packages whose versions differ.

    python benchmarks/extras_resolution.py            # core vs core + beam
    python benchmarks/extras_resolution.py --extra onnx

It exits 1 when the two resolutions disagree on TensorFlow or Keras (the extra must not move them), and
prints the versions the extra changes (Beam: protobuf and Pillow, within TensorFlow's ranges).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import common

PINNED = ("tensorflow", "keras", "keras-hub")


def resolve(spec: str) -> dict[str, str]:
    """{package: version} pip would install for `spec` into an empty environment (a dry run)."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
               spec]
    done = subprocess.run(command, capture_output=True, text=True, cwd=common.REPO)
    if done.returncode != 0:
        raise SystemExit(f"pip could not resolve {spec}:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="beam")
    args = parser.parse_args(argv)
    core, extra = resolve("."), resolve(f".[{args.extra}]")
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
