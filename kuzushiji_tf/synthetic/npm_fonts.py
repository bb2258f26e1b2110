"""Brush and handwriting faces that Debian does not package, installed from the npm registry.

Google Fonts' Japanese brush and handwriting faces (SIL Open Font License 1.1) reach npm as font
packages: `@expo-google-fonts/*` carry each face as one TTF, and `@fontsource/yuji-hentaigana-akebono`
carries Yuji Hentaigana Akebono as one WOFF, which FreeType reads as it is. `npm pack` fetches a pinned
version's tarball (checked against the registry's integrity hash); the font file and its licence are taken
out of it into a user font folder that `fonts.SYSTEM_FONT_DIRS` searches, so nothing is fetched when pages
are drawn. `kuzushiji-install-fonts` runs it from `make fonts`; this module needs only the standard library
and `atomic_files`.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.errors import KuzushijiError

# Under ~/.local/share/fonts, which fontconfig and `fonts.SYSTEM_FONT_DIRS` both search.
DEFAULT_DIR = Path("~/.local/share/fonts/kuzushiji_tf").expanduser()


@dataclass(frozen=True)
class NpmFont:
    """One face: the pinned package, the font file inside its tarball, and its licence file there (if any)."""

    package: str
    version: str
    member: str
    licence_member: str | None = None

    @property
    def file_name(self) -> str:
        return Path(self.member).name

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


def _expo(slug: str, stem: str, version: str = "0.4.1") -> NpmFont:
    return NpmFont(
        f"@expo-google-fonts/{slug}", version, f"package/400Regular/{stem}_400Regular.ttf", "package/LICENSE_FONT"
    )


NPM_FONTS = (
    _expo("yuji-syuku", "YujiSyuku"),  # brush
    _expo("yuji-mai", "YujiMai"),  # brush, a lighter hand than Syuku
    _expo("zen-kurenaido", "ZenKurenaido"),  # brush pen
    _expo("yomogi", "Yomogi"),  # pen handwriting
    _expo("yusei-magic", "YuseiMagic", "0.4.2"),  # marker handwriting
    # Its hiragana ARE hentaigana: each standard kana code draws a brush hentaigana of that kana.
    NpmFont(
        "@fontsource/yuji-hentaigana-akebono", "4.5.8", "package/files/yuji-hentaigana-akebono-all-400-normal.woff"
    ),
)


class FontInstallError(KuzushijiError, RuntimeError):
    """npm is missing, the registry cannot be reached, or a tarball lacks the expected file."""


def missing(folder: Path = DEFAULT_DIR) -> list[NpmFont]:
    return [f for f in NPM_FONTS if not (folder / f.file_name).is_file()]


def install(folder: Path = DEFAULT_DIR, fonts: tuple[NpmFont, ...] | None = None, npm: str = "npm") -> list[Path]:
    """Fetches each missing face with `npm pack` and writes its font file (and licence) into `folder`.

    Each file is written whole or not at all (a broken download never leaves a font that looks installed).

    Raises:
        FontInstallError: npm is not installed, `npm pack` failed, or the tarball lacks the font file.
    """
    todo = missing(folder) if fonts is None else list(fonts)
    if not todo:
        return []
    if shutil.which(npm) is None:
        raise FontInstallError(f"npm not found: install Node.js's npm to fetch {', '.join(f.spec for f in todo)}")
    written = []
    with tempfile.TemporaryDirectory(prefix="kuzushiji-fonts-") as tmp:
        for font in todo:
            run = subprocess.run(
                [npm, "pack", font.spec, "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if run.returncode != 0:
                raise FontInstallError(f"npm pack {font.spec} failed: {(run.stderr or run.stdout).strip()[-500:]}")
            tarball = Path(tmp) / run.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as archive:
                names = set(archive.getnames())
                if font.member not in names:
                    raise FontInstallError(f"{font.spec} ({tarball.name}) has no {font.member}")
                wanted = [(font.member, font.file_name)]
                if font.licence_member in names:
                    wanted.append((font.licence_member, f"{Path(font.file_name).stem}.LICENSE.txt"))
                for member, name in wanted:
                    data = archive.extractfile(member).read()
                    written.append(write_atomic(folder / name, data, make_parents=True))
    return written
