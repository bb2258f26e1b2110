"""The release model's recipe: every stage of `kuzushiji-release-model` as the command a user would type.

The recipe is the best the project has measured (docs/experiments.md), put in one order:
  synthetic pages written from real classical text, one hand kept out (three sets of fresh pages: each
  classifier round learns from pages it has not seen, which paid 0.01-0.015 top-1 a round on real pages);
  the detector as noisy students (two detectors trained on the pages teach a student on the unlabelled real
  scans, mirrored, their doubts marked uncertain; the student and its teachers teach the next: the
  `det-ns5` chain, 0.923-0.939 real detection F1);
  the classifier's long run from scratch, then rounds of self-training on the scans' confident crops and
  fine-tuning on fresh pages (the `cls-npm2-st` chain, 0.453 top-1 on real true boxes);
  the context decoding's temperature and settings tuned on the first set's held-out synthetic books;
  the export and the shipped package (float16 weights, vocabulary, options, language model, sha256s).
Nothing here reads the 5 labelled real pages except the last stage, which only measures them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kuzushiji_tf.config import SHIPPED_MODEL_NAME, SHIPPED_MODEL_VERSION


@dataclass(frozen=True)
class Sizes:
    """How big each stage is. `FULL` is the release model's; `TINY` runs every stage in minutes (tests)."""

    pages: int = 1200  # train pages per synthetic set (three sets: one per classifier round)
    test_pages: int = 100  # held-out books' pages of each set: set 1 tunes, set 2 measures
    books: int = 100
    test_books: int = 10
    page_height: int = 2000
    detector_backbone: str = "resnet18"
    detector_input: int = 256  # the recipe's crop; pages are read at twice this short side
    detector_steps: int = 1000  # per detector (1,000 lifted real F1 0.910 -> 0.923 over 600)
    detector_batch: int = 8
    detector_rounds: int = 2  # noisy-student rounds after the two starting detectors
    classifier_input: int = 64
    classifier_batch: int = 64
    classifier_crops: int = 8000  # crops per epoch
    classifier_epochs: int = 64  # the long run from scratch
    self_training_epochs: int = 24  # each self-training round on the scans' crops
    fresh_pages_epochs: int = 16  # each fine-tune on a fresh synthetic set
    classifier_rounds: int = 3  # self-training rounds; a fresh set of pages before each after the first
    eval_every: int = 0  # 0: evaluate at the end of each training run only

    def to_dict(self) -> dict:
        return asdict(self)


FULL = Sizes()
TINY = Sizes(
    pages=6,
    test_pages=2,
    books=2,
    test_books=1,
    page_height=640,
    detector_backbone="resnet_tiny",
    detector_input=128,
    detector_steps=2,
    detector_batch=2,
    detector_rounds=1,
    classifier_input=32,
    classifier_batch=8,
    classifier_crops=32,
    classifier_epochs=1,
    self_training_epochs=1,
    fresh_pages_epochs=1,
    classifier_rounds=1,  # the fresh-pages rounds' commands are checked by the plan's tests, not run
)
# Minutes per stage of FULL on 2 idle CPU cores (docs/experiments.md's runs of the same commands), for the plan.
MINUTES_2_CORES = {
    "synthetic": 12,
    "records": 4,
    "detector": 38,
    "teacher": 8,
    "classifier": 55,
    "self-training": 22,
    "fresh pages": 14,
    "context": 3,
    "export": 2,
    "package": 2,
    "measure": 6,
}


EXPORT_DIR = "{out}/export/kuzushiji_page/1"  # the release run's page recogniser
# The release run's model package: what goes into kuzushiji_tf/pretrained/ as the shipped model (docs/pretrained.md).
PACKAGE_DIR = f"{{out}}/package/{SHIPPED_MODEL_NAME}-{SHIPPED_MODEL_VERSION}"


@dataclass(frozen=True)
class Inputs:
    """What the recipe reads beyond the package: the text the pages write, the unlabelled real scans."""

    text: str  # a folder of UTF-8 documents, or `sample` (the package's 811 KB)
    scans: str  # a folder of unlabelled real scans (release_model copies the chosen ones there)
    exclude_faces: tuple[str, ...]
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class Stage:
    """One command of the recipe: `stem` is the kuzushiji_tf.cli module, `kind` keys MINUTES_2_CORES,
    `output` the folder (or file) it writes, `overwrite` whether a rerun must start it afresh (data stages;
    training stages resume from their checkpoints instead)."""

    name: str
    stem: str
    arguments: list[str]
    kind: str
    output: str
    notes: str = ""
    fresh: bool = False  # the output is removed before the stage runs (a command that refuses to overwrite)
    extra: dict = field(default_factory=dict)


def _detector(out: Path, name: str, records: Path, s: Sizes, seed: int, pseudo: Path | None) -> Stage:
    epochs = max(1, min(10, s.detector_steps))
    arguments = [
        "--task", "detector", "--records", str(records), "--out", str(out / "models" / name),
        "--epochs", str(epochs), "--steps-per-epoch", str(max(1, s.detector_steps // epochs)),
        "--backbone", s.detector_backbone, "--batch-size", str(s.detector_batch),
        "--input-size", str(s.detector_input), "--eval-short-side", str(2 * s.detector_input),
        "--optimizer", "adamw", "--lr", "1e-3", "--eval-every", str(s.eval_every or epochs),
        "--log-every-steps", "50", "--seed", str(seed),
    ]  # fmt: skip
    if pseudo is not None:
        arguments += ["--pseudo", str(pseudo), "--pseudo-ratio", "0.5"]
    return Stage(name, "train", arguments, "detector", str(out / "models" / name))


def _classifier(
    out: Path, name: str, records: Path, s: Sizes, seed: int, epochs: int, init: str | None, pseudo: Path | None
) -> Stage:
    arguments = [
        "--task", "classifier", "--records", str(records), "--out", str(out / "models" / name),
        "--epochs", str(epochs), "--crops-per-epoch", str(s.classifier_crops),
        "--input-size", str(s.classifier_input), "--batch-size", str(s.classifier_batch),
        "--eval-every", str(s.eval_every or epochs), "--log-every-steps", "50", "--seed", str(seed),
    ]  # fmt: skip
    if init is not None:  # fine-tuning: the recipe's lower rate, dropped twice
        arguments += ["--init", str(out / "models" / init), "--lr", "0.01", "--lr-drops", "0.5", "0.8"]
    if pseudo is not None:
        arguments += ["--pseudo", str(pseudo)]
    kind = "classifier" if init is None else "self-training" if pseudo is not None else "fresh pages"
    return Stage(name, "train", arguments, kind, str(out / "models" / name))


def _teacher(out: Path, name: str, detectors: list[str], classifier: str, records: Path, s: Sizes) -> Stage:
    arguments = [
        "--detector", *(str(out / "models" / d) for d in detectors), "--mirror", "--det-unsure", "0.2",
        "--classifier", str(out / "models" / classifier), "--records", str(records),
        "--images", str(out / "scans"), "--out", str(out / "pseudo" / name),
        "--short-side", str(2 * s.detector_input), "--quiet",
    ]  # fmt: skip
    notes = f"pages and crops of the real scans as {' + '.join(detectors)} (mirrored) and {classifier} read them"
    return Stage(name, "pseudo_label", arguments, "teacher", str(out / "pseudo" / name), notes)


def plan(out: Path, sizes: Sizes, inputs: Inputs) -> list[Stage]:
    """Every stage, in the order they run. Names are unique; a stage reads only earlier stages' outputs.

    Round t (1, 2, ...): a fresh synthetic set fine-tunes the classifier (from round 2); a teacher labels
    the real scans (pages for the detector, confident crops for the classifier): while detector rounds
    last, the newest student with the two starting detectors, mirrored; after, the final detector alone;
    the classifier self-trains on those crops; the next student detector learns from those pages.
    """
    s, seed = sizes, inputs.seed
    sets = max(2, s.classifier_rounds)
    records = [out / "records" / f"synthetic-{k}" for k in range(1, sets + 1)]

    def data(k: int) -> list[Stage]:
        synthetic = out / "data" / f"synthetic-{k}"
        make = [
            "--out", str(synthetic), "--pages", str(s.pages), "--test-pages", str(s.test_pages),
            "--books", str(s.books), "--test-books", str(s.test_books), "--page-height", str(s.page_height),
            "--seed", str(seed + k), "--text", inputs.text, "--workers", str(inputs.workers), "--overwrite",
        ]  # fmt: skip
        if inputs.exclude_faces:
            make += ["--exclude-faces", *inputs.exclude_faces]
        build = [
            "--data-dir", str(synthetic), "--out", str(records[k - 1]), "--num-folds", str(min(10, s.books)),
            "--workers", str(inputs.workers), "--overwrite", "--quiet",
        ]  # fmt: skip
        return [
            Stage(f"synthetic-{k}", "make_synthetic", make, "synthetic", str(synthetic)),
            Stage(f"records-{k}", "build_records", build, "records", str(records[k - 1])),
        ]

    # Two starting detectors on different pages and seeds: together (and mirrored) they teach better than one.
    stages = data(1) + data(2)
    stages.append(_detector(out, "detector-a", records[0], s, seed, None))
    stages.append(_classifier(out, "classifier", records[0], s, seed, s.classifier_epochs, None, None))
    stages.append(_detector(out, "detector-b", records[1], s, seed + 1, None))
    teachers, classifier, detector = ["detector-a", "detector-b"], "classifier", "detector-b"
    for t in range(1, max(s.detector_rounds, s.classifier_rounds) + 1):
        round_records = records[min(t, sets) - 1]
        if 2 <= t <= s.classifier_rounds:
            if t > 2:
                stages += data(t)
            fresh = f"classifier-r{t}"
            stages.append(_classifier(out, fresh, round_records, s, seed, s.fresh_pages_epochs, classifier, None))
            classifier = fresh
        name = f"teacher-{t}" if t <= s.detector_rounds else f"crops-{t}"
        stages.append(_teacher(out, name, teachers if t <= s.detector_rounds else [detector], classifier,
                               round_records, s))  # fmt: skip
        if t <= s.classifier_rounds:
            tuned = f"classifier-st{t}"
            stages.append(_classifier(out, tuned, round_records, s, seed, s.self_training_epochs, classifier,
                                      out / "pseudo" / name))  # fmt: skip
            classifier = tuned
        if t <= s.detector_rounds:
            detector = f"detector-ns{t}"
            stages.append(_detector(out, detector, records[0], s, seed + t, out / "pseudo" / name))
            teachers = [detector, "detector-a", "detector-b"]
    stages += _finish(out, s, detector, classifier)
    extra = {"final_detector": detector, "final_classifier": classifier, "export": EXPORT_DIR.format(out=out)}
    return [replace(stage, extra=extra) for stage in stages]


def _measure(name: str, models: tuple[str, str, str], data: list[str], label: str, json_path: Path) -> Stage:
    """A measure_real stage: (detector, classifier, recognizer) on `data`'s pages (none: the 5 labelled real
    pages), its figures written to `json_path`, which is also what marks the stage done."""
    detector, classifier, recognizer = models
    args = ["--detector", detector, "--classifier", classifier, "--recognizer", recognizer, *data]
    args += ["--label", label, "--json", str(json_path), "--quiet"]
    return Stage(name, "measure_real", args, "measure", str(json_path))


def _finish(out: Path, s: Sizes, detector: str, classifier: str) -> list[Stage]:
    """Tuning the context on set 1's held-out books, the export, and the measurements: set 2's held-out
    books (synthetic, never tuned on) and the 5 labelled real pages (measured only)."""
    det, cls = str(out / "models" / detector), str(out / "models" / classifier)
    context, export = out / "context.json", Path(EXPORT_DIR.format(out=out))
    short_side = str(2 * s.detector_input)
    return [
        Stage(
            "context",
            "tune_context",
            [
                "--classifier",
                cls,
                "--data-dir",
                str(out / "data" / "synthetic-1"),
                "--split",
                "test",
                "--out",
                str(context),
                "--quiet",
            ],
            "context",
            str(context),
        ),  # fmt: skip
        Stage(
            "export",
            "export",
            [
                "--detector",
                det,
                "--classifier",
                cls,
                "--out",
                str(export),
                "--short-side",
                short_side,
                "--context",
                str(context),
                "--no-parts",
            ],
            "export",
            str(export),
        ),  # fmt: skip
        Stage(
            "package",
            "package_model",
            [
                "--detector",
                det,
                "--classifier",
                cls,
                "--context",
                str(context),
                "--short-side",
                short_side,
                "--out",
                PACKAGE_DIR.format(out=out),
            ],
            "package",
            PACKAGE_DIR.format(out=out),
            fresh=True,
        ),  # fmt: skip
        _measure(
            "synthetic test",
            (det, cls, str(export)),
            ["--data-dir", str(out / "data" / "synthetic-2"), "--split", "test", "--short-side", short_side],
            "release model, synthetic test books",
            out / "measured" / "synthetic_test.json",
        ),
        _measure(
            "real pages",
            (det, cls, str(export)),
            ["--short-side", short_side],
            "release model",
            out / "measured" / "real_pages.json",
        ),
        # The package as it will ship (float16 weights, rebuilt as every command rebuilds it), measured on the
        # same pages: the row above and this one must agree within noise.
        _measure(
            "real pages, package",
            (PACKAGE_DIR.format(out=out),) * 3,
            [],
            "release model, shipped package",
            out / "measured" / "real_pages_package.json",
        ),
    ]


def final_models(stages: list[Stage]) -> tuple[str, str]:
    """(detector, classifier) folder names the recipe ends with."""
    return stages[-1].extra["final_detector"], stages[-1].extra["final_classifier"]
