"""Train the release model end to end (`make release-model`): resumable, stage by stage.

kuzushiji-release-model --out ~/runs/release --text DIR --scans DIR [DIR ...]

Every stage is a command a user could type (printed before it runs). A stage that finished is recorded in
<out>/release.json and skipped when the same command runs again; an interrupted one is run again, and a
training stage then resumes from its last checkpoint. The plan, each stage's time and what it measured go
to the screen and to <out>/release.log. docs/release_model.md says where the text and the scans come from,
how long it takes on 2 CPU cores, and what to change on a GPU. The 5 labelled real pages are only measured,
in the last stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.cli.args import prog
from kuzushiji_tf.cli.errors import user_errors
from kuzushiji_tf.cli.stages import StageFailed, printed_command, run_stage
from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR, SAMPLE_UNLABELLED_DIR
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.release.recipe import FULL, MINUTES_2_CORES, TINY, Inputs, Sizes, Stage, final_models, plan
from kuzushiji_tf.synthetic.fonts import RELEASE_HELD_OUT_FACES

PROG = "release_model"
STATE_FILE = "release.json"
LOG_FILE = "release.log"
SCAN_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


class ReleaseError(KuzushijiError, ValueError):
    """A release run that cannot start or go on: the message says why and what to do."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the run's folder (keep it outside the repository); again to resume")
    p.add_argument(
        "--text",
        default="sample",
        help="folder of UTF-8 classical-text documents the synthetic pages write (docs/release_model.md); "
        "default: the package's 811 KB public-domain sample",
    )
    p.add_argument(
        "--scans",
        nargs="+",
        default=[str(SAMPLE_UNLABELLED_DIR)],
        metavar="DIR_OR_FILE",
        help="unlabelled real page scans for self-training (folders or files); default: the 6 bundled ones. "
        "Scans of the labelled test pages' books are left out",
    )
    p.add_argument(
        "--exclude-faces",
        nargs="*",
        default=list(RELEASE_HELD_OUT_FACES),
        metavar="FACE",
        help="hands the synthetic pages never use (default: %(default)s, kept for measuring a hand no model saw)",
    )
    p.add_argument("--tiny", action="store_true", help="every stage at a toy size (minutes): tests, smoke runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes for the data stages, default one per core")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    return p


def _book(path: Path) -> str:
    """A Kaggle/CODH image id's book: the name up to the first `_` or `-`."""
    return path.stem.replace("-", "_").split("_")[0]


def test_books() -> set[str]:
    """Books of the labelled real test pages (the bundled sample): their other scans never train."""
    rows = (SAMPLE_KAGGLE_DIR / "train.csv").read_text(encoding="utf-8").splitlines()[1:]
    return {_book(Path(row.split(",")[0])) for row in rows if row.strip()}


def choose_scans(sources: list[str]) -> tuple[list[Path], list[Path]]:
    """(scans to use, scans left out because their book is a test page's), one per file name."""
    found: dict[str, Path] = {}
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SCAN_SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise ReleaseError(f"--scans: {source} is neither a folder nor a file")
        for file in files:
            found.setdefault(file.name, file)
    held = test_books()
    used = [p for name, p in sorted(found.items()) if _book(p) not in held]
    left = [p for name, p in sorted(found.items()) if _book(p) in held]
    if not used:
        raise ReleaseError(f"--scans: no scan found in {' '.join(sources)} (images: {', '.join(SCAN_SUFFIXES)})")
    return used, left


class Run:
    """The state of one release run: its settings (fixed at the start) and the stages done."""

    def __init__(self, out: Path, settings: dict):
        self.out, self.path = out, out / STATE_FILE
        if self.path.exists():
            self.state = json.loads(self.path.read_text())
            if self.state["settings"] != settings:
                before = json.dumps(self.state["settings"], sort_keys=True)
                raise ReleaseError(
                    f"{self.path} was started with other settings ({before}); rerun with the same flags to "
                    "resume, or give a new --out"
                )
        else:
            self.state = {"settings": settings, "stages": {}, "started": _now()}
        self.log = open(out / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    def done(self, name: str) -> bool:
        return name in self.state["stages"]

    def finish(self, stage: Stage, seconds: float, figure: str) -> None:
        self.state["stages"][stage.name] = {
            "seconds": round(seconds, 1),
            "finished": _now(),
            "figure": figure,
            "command": printed_command(stage.stem, stage.arguments),
        }
        self.save()

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.state, indent=2, ensure_ascii=False) + "\n")

    def echo(self, text: str) -> None:
        self.log.write(text)
        self.log.flush()

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.echo(text + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hm(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _history(folder: Path) -> dict:
    try:
        return json.loads((folder / "history.json").read_text())[-1]
    except (OSError, ValueError, IndexError):
        return {}


def figure(stage: Stage) -> str:
    """One line on what a finished stage made, from the files it wrote."""
    out = Path(stage.output)
    if stage.stem == "make_synthetic":
        info = json.loads((out / "synthetic.json").read_text())
        return f"{info['train_pages']} train + {info['test_pages']} test pages, {info['chars']} characters"
    if stage.stem == "train":
        h = _history(out)
        if stage.kind == "detector":
            return f"synthetic val detection F1 {h.get('val_det_f1', float('nan')):.3f}"
        return f"synthetic val top-1 {h.get('val_top1', float('nan')):.3f}"
    if stage.stem == "pseudo_label":
        m = json.loads((out / "manifest.json").read_text())
        return f"{m['crops']} crops of {m['classes']} classes from {m.get('pages_labelled', '?')} scans"
    if stage.stem == "tune_context":
        c = json.loads(out.read_text())
        return (
            f"temperature {c['temperature']:.2f}; top-1 {c['top1_alone']:.3f} alone, {c['top1_context']:.3f} in context"
        )
    if stage.stem == "package_model":
        m = json.loads((out / "manifest.json").read_text())
        size = sum(entry["size"] for entry in m["files"].values())
        return f"{m['name']}-{m['version']}: {m['weights']} weights, {size / 1e6:.1f} MB; copy it into kuzushiji_tf/pretrained/"
    if stage.stem == "measure_real":
        r = json.loads(out.read_text())
        cls, det, rec = r.get("classifier", {}), r.get("detector", {}), r.get("recognizer", {})
        return (
            f"top-1 on true boxes {cls.get('overall', {}).get('top1', float('nan')):.3f}, detection F1 "
            f"{det.get('detection', {}).get('f1', float('nan')):.3f}, Kaggle F1 "
            f"{rec.get('labelled', {}).get('f1', float('nan')):.3f}"
        )
    return stage.output


def resolve(stage: Stage, say) -> Stage:
    """The stage as it will run: a classifier's --pseudo crops that came out empty (a teacher sure of no
    real character, as in a tiny run) are left out, as `make demo` does, instead of failing the run."""
    args = stage.arguments
    if stage.stem != "train" or args[args.index("--task") + 1] != "classifier" or "--pseudo" not in args:
        return stage
    i = args.index("--pseudo")
    manifest = Path(args[i + 1]) / "manifest.json"
    if json.loads(manifest.read_text()).get("crops", 0) > 0:
        return stage
    say(f"   {args[i + 1]} holds no crop: {stage.name} trains without it")
    return replace(stage, arguments=args[:i] + args[i + 2 :])


def print_plan(run: Run, stages: list[Stage], sizes: Sizes) -> None:
    left = [s for s in stages if not run.done(s.name)]
    run.say(
        f"\nrelease model: {len(stages)} stages, {len(stages) - len(left)} done, {len(left)} to run; folder {run.out}"
    )
    for s in stages:
        state = "done" if run.done(s.name) else "todo"
        estimate = f"~{MINUTES_2_CORES[s.kind]:>3} min" if sizes == FULL else ""
        run.say(f"  [{state}] {s.name:<16} {estimate}  {printed_command(s.stem, s.arguments)[:150]}")
    if sizes == FULL:
        total = sum(MINUTES_2_CORES[s.kind] for s in left) * 60
        run.say(f"left: about {_hm(total)} on 2 idle CPU cores (far less on a GPU: docs/release_model.md)")


def _stop_on_sigterm() -> None:
    """A kill (the end of a session, `timeout`) stops the running stage's process too, as Ctrl-C does:
    run_stage terminates it on the exception, and the next run redoes that stage."""

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out).expanduser().resolve()
    sizes = TINY if args.tiny else FULL
    text = args.text if args.text == "sample" else str(Path(args.text).expanduser().resolve())
    used, left = choose_scans(args.scans)
    inputs = Inputs(text, str(out / "scans"), tuple(args.exclude_faces), args.seed, args.workers or os.cpu_count() or 1)
    stages = plan(out, sizes, inputs)
    settings = {
        "sizes": sizes.to_dict(),
        "text": text,
        "scans": [p.name for p in used],
        "exclude_faces": list(args.exclude_faces),
        "seed": args.seed,
    }
    out.mkdir(parents=True, exist_ok=True)
    run = Run(out, settings)
    run.say(f"\n=== {prog(PROG)} {_now()}: {len(used)} real scans without labels")
    if left:
        run.say(f"left out (a labelled test page's book): {', '.join(p.name for p in left)}")
    print_plan(run, stages, sizes)
    if args.dry_run:
        return 0
    scans = out / "scans"
    if not scans.exists():  # copied, so the run keeps the very scans it was started with
        partial = out / "scans.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for path in used:
            shutil.copy2(path, partial / path.name)
        partial.rename(scans)
    run.save()
    _stop_on_sigterm()
    started = time.perf_counter()
    for stage in stages:
        if run.done(stage.name):
            continue
        stage = resolve(stage, run.say)
        if stage.fresh and Path(stage.output).exists():  # left by an interrupted run of this stage
            shutil.rmtree(stage.output)
        try:
            _, seconds = run_stage(stage.name, stage.stem, stage.arguments, echo=run.echo)
        except StageFailed as error:
            run.say(f"{prog(PROG)}: {error}; rerun the same command to resume from it")
            return 1
        except KeyboardInterrupt:
            run.say(f"\n{prog(PROG)}: interrupted in stage {stage.name}; rerun the same command to resume")
            return 130
        run.finish(stage, seconds, figure(stage))
        run.say(f"   -> {stage.name}: {_hm(seconds)}; {run.state['stages'][stage.name]['figure']}")
    detector, classifier = final_models(stages)
    run.state["finished"] = _now()
    run.save()
    run.say(f"\n{prog(PROG)}: done ({_hm(time.perf_counter() - started)} this time)")
    run.say(table(run, stages))
    run.say(f"models: {out / 'models' / detector}, {out / 'models' / classifier}; export {stages[-1].extra['export']}")
    return 0


def table(run: Run, stages: list[Stage]) -> str:
    """The log's summary: each stage, its time and its figure, as a markdown table (docs/release_model.md)."""
    lines = ["| stage | time | figure |", "| --- | --- | --- |"]
    total = 0.0
    for s in stages:
        row = run.state["stages"].get(s.name, {})
        total += row.get("seconds", 0.0)
        lines.append(f"| {s.name} | {_hm(row.get('seconds', 0.0))} | {row.get('figure', '')} |")
    lines.append(f"| total | {_hm(total)} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
