"""The faces from npm: `make fonts` fetches pinned tarballs with `npm pack` and keeps only the font and its
licence; failures say what is missing and leave nothing half-written; the generator gives each face its role.

The install tests run a stand-in `npm` (a script that packs a tarball laid out as the real packages are),
so they need no registry; the role tests use the faces `make fonts` really installed, when there are any.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kuzushiji_tf.synthetic import FontNotFoundError, build_charset, find_fonts
from kuzushiji_tf.synthetic.fonts import HAND_FILES, KANA_FORM_FILES, has_glyph
from kuzushiji_tf.synthetic.npm_fonts import NPM_FONTS, FontInstallError, NpmFont, install, missing

REPO = Path(__file__).resolve().parents[1]
FAKE_NPM = r"""#!{python}
import io, os, sys, tarfile
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
if os.environ.get("FAKE_NPM_FAIL"):
    sys.stderr.write("npm error 404 Not Found - " + args[1] + "\n")
    sys.exit(1)
assert args[0] == "pack" and args[2] == "--pack-destination"
spec, dest = args[1], Path(args[3])
name = spec.rsplit("@", 1)[0].replace("@", "").replace("/", "-") + ".tgz"
members = {{m: ("font " + spec).encode() for m in os.environ.get("FAKE_NPM_MEMBERS", "").split(",") if m}}
members["package/LICENSE_FONT"] = b"SIL Open Font License 1.1"
with tarfile.open(dest / name, "w:gz") as tar:
    for member, data in members.items():
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
print(name)
"""
FONT = NpmFont(
    "@expo-google-fonts/test-face", "1.0.0", "package/400Regular/TestFace_400Regular.ttf", "package/LICENSE_FONT"
)


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(0o755)
    log = tmp_path / "npm.log"
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("FAKE_NPM_MEMBERS", FONT.member)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_install_keeps_the_font_and_its_licence_and_skips_what_is_there(tmp_path, fake_npm):
    folder = tmp_path / "fonts"
    assert missing(folder)  # nothing installed yet
    written = install(folder, (FONT,))
    assert sorted(p.name for p in written) == ["TestFace_400Regular.LICENSE.txt", "TestFace_400Regular.ttf"]
    assert (folder / "TestFace_400Regular.ttf").read_bytes() == b"font @expo-google-fonts/test-face@1.0.0"
    assert "Open Font License" in (folder / "TestFace_400Regular.LICENSE.txt").read_text()
    assert fake_npm.read_text().split("\n")[0].startswith("pack @expo-google-fonts/test-face@1.0.0 ")
    assert sorted(os.listdir(folder)) == ["TestFace_400Regular.LICENSE.txt", "TestFace_400Regular.ttf"]


def test_a_tarball_without_the_font_is_an_error_that_names_it_and_writes_nothing(tmp_path, fake_npm, monkeypatch):
    monkeypatch.setenv("FAKE_NPM_MEMBERS", "package/README.md")
    with pytest.raises(FontInstallError, match=r"test-face@1\.0\.0 .* has no package/400Regular/TestFace"):
        install(tmp_path / "fonts", (FONT,))
    assert not (tmp_path / "fonts").exists() or not os.listdir(tmp_path / "fonts")


def test_npm_failing_or_missing_is_a_clear_error(tmp_path, fake_npm, monkeypatch):
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    with pytest.raises(FontInstallError, match=r"npm pack @expo-google-fonts/test-face@1\.0\.0 failed: .*404"):
        install(tmp_path / "fonts", (FONT,))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FontInstallError, match="npm not found"):
        install(tmp_path / "fonts", (FONT,))


def test_the_tool_installs_every_pinned_face_and_warns_without_npm(tmp_path, fake_npm, monkeypatch):
    monkeypatch.setenv("FAKE_NPM_MEMBERS", ",".join(f.member for f in NPM_FONTS))
    folder = tmp_path / "fonts"
    run = subprocess.run(
        [sys.executable, str(REPO / "tools/install_fonts.py"), "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"Installed {len(NPM_FONTS)}/{len(NPM_FONTS)}" in run.stdout and not missing(folder)
    assert len(fake_npm.read_text().splitlines()) == len(NPM_FONTS)
    again = subprocess.run(
        [sys.executable, str(REPO / "tools/install_fonts.py"), "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and again.stdout == ""  # already there: npm is not asked again
    assert len(fake_npm.read_text().splitlines()) == len(NPM_FONTS)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bare = subprocess.run(
        [sys.executable, str(REPO / "tools/install_fonts.py"), "--dir", str(tmp_path / "new")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bare.returncode == 1 and "npm not found" in bare.stderr and not (tmp_path / "new").exists()


def test_every_pinned_face_has_a_role_and_the_makefile_installs_them():
    for font in NPM_FONTS:
        assert (font.file_name.lower() in HAND_FILES) != (font.file_name.lower() in KANA_FORM_FILES), font
    assert "tools/install_fonts.py" in (REPO / "Makefile").read_text()


try:
    FONTS = find_fonts()
except FontNotFoundError:
    FONTS = None


@pytest.mark.skipif(FONTS is None or not FONTS.kana_forms, reason="the npm faces are not installed (make fonts)")
def test_a_kana_form_face_writes_kana_only_and_never_styles_a_book():
    names = {f.name for f in FONTS.kana_forms}
    assert "yuji-hentaigana-akebono" in names and not names & {f.name for f in FONTS.primary}
    charset = build_charset("default", FONTS)
    assert len(charset.form_faces) >= 40  # its hiragana, voiced ones included
    for kana, faces in charset.form_faces.items():
        assert kana in charset.kana and set(faces) <= names
        assert all(has_glyph(FONTS.face(n), kana) for n in faces)
        assert all((kana, face) in charset.forms(kana) for face in faces)
    assert not any(kanji in charset.form_faces for kanji in charset.kanji)
