"""Where a recognised page comes from: what every output format needs beside the page record."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from kuzushiji_tf import __version__

SOFTWARE = f"kuzushiji_tf {__version__}"


def utc_now() -> str:
    """The current time as an xsd:dateTime in UTC (PAGE requires UTC for Created/LastChange)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PageSource:
    """The page's image and coordinate frame, as the formats name and measure it.

    The record's boxes are already in this frame (whoever reads a scan at another size scales them first).

    Attributes:
        image: file name or URL of the image the page is on (PAGE imageFilename, ALTO fileName, hOCR image,
            TEI graphic url).
        width, height: the coordinate frame, in pixels.
        canvas: IIIF canvas id the page is painted on, or None (IIIF then derives one from `image`).
        manifest: IIIF manifest id holding the canvas, or None.
        software: name and version of the producer, "name version".
        page_number: the page's position in its document, from 1 (ALTO PHYSICAL_IMG_NR, hOCR ppageno).
        created: xsd:dateTime (UTC) of the run, or None for the time of rendering; one value for a whole run
            keeps a resumed run's files alike.
    """

    image: str
    width: int
    height: int
    canvas: str | None = None
    manifest: str | None = None
    software: str = SOFTWARE
    page_number: int = 1
    created: str | None = None

    def __post_init__(self):
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"page frame must be positive; received {self.width} x {self.height}")

    @classmethod
    def from_record(cls, record: dict, **fields) -> PageSource:
        """The source a record describes itself: its image name and size (from `page_record(..., size=)`)."""
        values = {"image": record["image"], "width": record.get("width"), "height": record.get("height"), **fields}
        if values["width"] is None or values["height"] is None:
            raise ValueError(f"record of {record.get('image')!r} has no width/height: pass them")
        return cls(**values)

    @property
    def software_name(self) -> str:
        return self.software.rsplit(" ", 1)[0] if " " in self.software else self.software

    @property
    def software_version(self) -> str:
        return self.software.rsplit(" ", 1)[1] if " " in self.software else ""

    def timestamp(self) -> str:
        return self.created or utc_now()
