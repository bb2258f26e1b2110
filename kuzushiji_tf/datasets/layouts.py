"""The layouts `kuzushiji-build-records` reads, and which one a data folder holds (`--layout auto`): the one
place that knows each layout's mark.

    kaggle   train.csv (kaggle_reader)
    codh     <book>_coordinate.csv, in the folder or in its book folders (codh_reader)
    page     *.xml files with a PAGE-XML root, PcGts (xml_layout_reader)
    alto     *.xml files with an ALTO root, alto (xml_layout_reader)
"""

from __future__ import annotations

from pathlib import Path

from kuzushiji_tf.datasets.codh_reader import COORDINATE_SUFFIX, is_codh_dir
from kuzushiji_tf.datasets.kaggle_reader import TRAIN_CSV, DataError
from kuzushiji_tf.datasets.layout_xml import root_kind, xml_files

XML_LAYOUTS = ("page", "alto")
LAYOUTS = ("kaggle", "codh") + XML_LAYOUTS
LAYOUT_CHOICES = ("auto",) + LAYOUTS
LOOKED_FOR = (
    f"looked for {TRAIN_CSV} (Kaggle layout), *{COORDINATE_SUFFIX} in the folder itself or "
    f"<book>/<book>{COORDINATE_SUFFIX} in its sub-folders (CODH layout), and *.xml files with a PAGE-XML "
    "(PcGts) or an ALTO (alto) root element (page and alto layouts)"
)


def layouts_found(data_dir: str | Path) -> list[str]:
    """Every layout whose mark `data_dir` holds, in LAYOUTS order."""
    data_dir = Path(data_dir)
    found = [
        name for name, here in (("kaggle", (data_dir / TRAIN_CSV).is_file()), ("codh", is_codh_dir(data_dir))) if here
    ]
    kinds: set[str | None] = set()
    for path in xml_files(data_dir):
        kinds.add(root_kind(path))
        if kinds.issuperset(XML_LAYOUTS):
            break
    return found + [name for name in XML_LAYOUTS if name in kinds]


def detect_layout(data_dir: str | Path) -> str:
    """The layout of a data folder (see the module docstring). Raises DataError saying what was looked for
    when it holds none or several."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, "--data-dir is not a folder")
    found = layouts_found(data_dir)
    if len(found) > 1:
        raise DataError(
            data_dir,
            f"holds {'both' if len(found) == 2 else 'several'} layouts ({LOOKED_FOR}; found {', '.join(found)}); "
            f"choose one with {' or '.join(f'--layout {name}' for name in found)}",
        )
    if not found:
        raise DataError(data_dir, f"holds none of the layouts read: {LOOKED_FOR}")
    return found[0]


def resolve_layout(data_dir: str | Path, layout: str = "auto") -> str:
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f"layout must be one of {LAYOUT_CHOICES}; received {layout!r}")
    return detect_layout(data_dir) if layout == "auto" else layout
