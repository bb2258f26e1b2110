"""Installs the brush and handwriting faces that come from the npm registry (`make fonts` runs this).

    kuzushiji-install-fonts [--dir ~/.local/share/fonts/kuzushiji_tf]

Debian's font packages are installed by `make fonts` with apt-get; these faces have no Debian package.
Already installed faces are skipped; without npm or the registry it says what is missing and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kuzushiji_tf.cli.errors import user_errors
from kuzushiji_tf.synthetic.npm_fonts import DEFAULT_DIR, NPM_FONTS, FontInstallError, install, missing

PROG = "install_fonts"


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"font folder to install into (default {DEFAULT_DIR}; the generator searches it)",
    )
    args = parser.parse_args(argv)
    todo = missing(args.dir)
    if not todo:
        return 0
    print(f"Installing {len(todo)} font(s) from npm into {args.dir}: {', '.join(f.spec for f in todo)}", flush=True)
    try:
        install(args.dir)
    except FontInstallError as err:
        print(f"WARNING: {err}; the generator draws without these faces", file=sys.stderr)
        return 1
    print(f"Installed {len(NPM_FONTS) - len(missing(args.dir))}/{len(NPM_FONTS)} npm faces in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
