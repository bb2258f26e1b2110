"""Bounded HTTP(S) GETs for manifests and page images, with the standard library only.

Every request is bounded: `timeout` per socket operation, `deadline` for a whole response (a server that
trickles bytes cannot hold a run), `max_bytes` read at most, `retries` more attempts with exponential
backoff on connection failures, timeouts, 429 and 5xx (never on other 4xx: a missing image stays missing).
Only http and https, redirects included. Failures raise ScanError naming `what` and the URL.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from kuzushiji_tf import __version__
from kuzushiji_tf.scans.source import ScanError

SCHEMES = ("http", "https")
CHUNK = 1 << 16
MAX_BACKOFF_S = 30.0
MAX_REDIRECTS = 5
# An octet-stream answer may still be an image: the magic bytes are checked after download.
IMAGE_TYPES = ("image/", "application/octet-stream")


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # seconds per connect / read
    retries: int = 3  # attempts after the first
    max_bytes: int = 50_000_000  # the recogniser's own limit on an encoded page
    backoff: float = 1.0  # seconds before the first retry, doubling after
    deadline: float = 300.0  # seconds for one whole response


class _Transient(Exception):
    """A failure worth another attempt."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        # The stock handler would also follow a redirect to ftp://.
        if urlsplit(newurl).scheme not in SCHEMES:
            raise urllib.error.HTTPError(newurl, code, f"redirect to a non-http(s) URL ({newurl}) refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def is_url(text: str) -> bool:
    return urlsplit(str(text)).scheme.lower() in SCHEMES


def check_url(url: str, what: str) -> str:
    parts = urlsplit(str(url))
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        raise ScanError(f"{what}: {url!r} is not an http(s) URL")
    return url


def fetch(url: str, *, what: str, limits: Limits = Limits(), image: bool = False) -> bytes:
    """The body of `url`. With `image`, an answer whose Content-Type is not an image fails at once."""
    check_url(url, what)
    attempts = max(0, int(limits.retries)) + 1
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(limits.backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
        try:
            return _attempt(url, limits, image)
        except _Transient as error:
            problem = str(error)
        except ScanError as error:
            raise ScanError(f"{what}: {url}: {error}") from None
    tries = f" (tried {attempts} times)" if attempts > 1 else ""
    raise ScanError(f"{what}: {url}: {problem}{tries}")


def _attempt(url: str, limits: Limits, image: bool) -> bytes:
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": f"kuzushiji_tf/{__version__}",
            "Accept": "image/*" if image else "application/json, */*",
        },
    )
    try:
        response = _OPENER.open(request, timeout=limits.timeout)
    except urllib.error.HTTPError as error:
        error.close()
        status = f"HTTP {error.code} {error.reason}"
        if error.code == 429 or error.code >= 500:
            raise _Transient(status) from None
        raise ScanError(status) from None
    except urllib.error.URLError as error:
        raise _Transient(_connection_problem(error.reason, limits)) from None
    except (OSError, http.client.HTTPException) as error:
        raise _Transient(_connection_problem(error, limits)) from None
    with response:
        kind = response.headers.get("Content-Type", "")
        if image and kind and not kind.lower().startswith(IMAGE_TYPES):
            raise ScanError(f"answered {kind.split(';')[0]}, not an image")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise ScanError(f"{int(declared):,} bytes, above the limit of {limits.max_bytes:,}")
        return _read_bounded(response, limits)


def _read_bounded(response, limits: Limits) -> bytes:
    body, end = bytearray(), time.monotonic() + limits.deadline
    try:
        while chunk := response.read1(CHUNK):  # read1 returns after one receive, so the deadline is checked often
            body += chunk
            if len(body) > limits.max_bytes:
                raise ScanError(f"answer is over {limits.max_bytes:,} bytes; refused")
            if time.monotonic() > end:
                raise _Transient(f"answer took over {limits.deadline:g} s")
    except (OSError, http.client.HTTPException) as error:
        raise _Transient(_connection_problem(error, limits)) from None
    return bytes(body)


def _connection_problem(reason, limits: Limits) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {limits.timeout:g} s"
    return f"connection failed ({reason})"
