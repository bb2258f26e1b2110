"""Reading scans, whatever they come as: image files, a folder, PDFs, IIIF manifests (file or URL).

`open_scans` lists the pages of its inputs as `ScanPage`s; each page's `load()` gives the JPEG/PNG bytes
the page recogniser takes, or raises `ScanError` naming the page. `images` opens image files safely.
Importing this package stays light: PDF and HTTP code load only when such an input is given.
"""

from kuzushiji_tf.scans.inputs import open_scans
from kuzushiji_tf.scans.source import ScanError, ScanPage, encoded_size, safe_name

__all__ = ["ScanError", "ScanPage", "encoded_size", "open_scans", "safe_name"]
