"""Serving figures on 127.0.0.1: the HTTP server's pages/s and p50/p95 latency at concurrency 1, 4 and 16
with batching on and off; the server's overhead over calling the model directly (goal <= 10 % at
concurrency 1); ONNX Runtime against the TF SavedModel on the same pages; and a fault phase (--fault-seconds):
16 clients mixing real pages with empty, non-image, corrupt and oversized uploads and uploads cut off
mid-way, against a queue of 4: answers by status, whether every good answer equals its single-request
answer, and the server's memory before and after. All in one run.

The pages are the bundled real scans (kuzushiji_tf/sample_data: 5 labelled + 2 test pages), sent to
POST /recognize as raw bytes (the web page's route: upload, checks, recognition, reading order, JSON).

    python benchmarks/serving.py --model saved_models/kuzushiji_page/1 --onnx saved_models/kuzushiji_page_onnx/1
    python benchmarks/serving.py --quick          # the newest saved_models/kuzushiji_page version, fewer requests

Without --model the newest saved_models/kuzushiji_page version is served. With --quick and none there (a
fresh clone), tiny untrained models are exported on the spot into a temporary folder as a SavedModel: the
figures are then of the pipeline (upload, checks, decode, resize, crops, reading order, JSON, batching),
not of a trained model, and the banner says so. (ONNX against the SavedModel on untrained models:
`onnx_vs_savedmodel.py --quick`.)
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common

SAMPLE = common.SAMPLE_KAGGLE_DIR
CONCURRENCY = (1, 4, 16)


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", help="exported page recogniser (default: newest in saved_models/kuzushiji_page)")
    parser.add_argument("--onnx", help="the same models exported with tools/export.py --format onnx")
    parser.add_argument("--max-batch", type=int, default=4, help="batch size with batching on (default 4)")
    parser.add_argument("--rounds", type=int, default=None, help="direct calls per page (2; quick 1)")
    parser.add_argument("--port", type=int, default=8591)
    parser.add_argument("--fault-seconds", type=float, default=None, help="fault phase length (30; quick 6; 0 skips)")
    return parser.parse_args(argv)


def percentile(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def request(port: int, data: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        try:
            connection.request("POST", "/recognize", body=data, headers={"Content-Type": "application/octet-stream"})
        except (BrokenPipeError, ConnectionResetError):  # refused (413) before the whole body was sent
            pass
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post(port: int, data: bytes) -> float:
    started = time.perf_counter()
    status, _ = request(port, data)
    if status != 200:
        raise RuntimeError(f"server answered {status}")
    return time.perf_counter() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def faults(model: Path, port: int, pages: list[bytes], seconds: float) -> dict:
    """16 clients for `seconds`: two good requests in three, the rest bad or cut off; queue of 4."""
    import json
    import socket
    import threading

    server = start_server(model, port, 4, extra=("--max-queue", "4", "--max-upload-mb", "30"))
    try:
        single = [json.loads(request(port, page)[1]) for page in pages[:3]]
        before = rss_mib(server.pid)
        bad = [b"", b"GIF89a not a scan", b"\xff\xd8\xff\xe0" + bytes(100), b"\x89PNG\r\n\x1a\n" + bytes(31_000_000)]
        counts, mismatches, unanswered = {}, 0, 0
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def client(k: int):
            nonlocal mismatches, unanswered
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                try:
                    if (k + n) % 7 == 0:  # dies mid-upload
                        with socket.create_connection(("127.0.0.1", port)) as sock:
                            sock.sendall(
                                b"POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
                                + pages[0][:40_000]
                            )
                        status = "cut"
                    elif (k + n) % 3:
                        i = (k + n) % len(single)
                        status, body = request(port, pages[i])
                        if status == 200 and json.loads(body) != single[i]:
                            with lock:
                                mismatches += 1
                    else:
                        status, _ = request(port, bad[(k + n) % len(bad)])
                except OSError:
                    with lock:
                        unanswered += 1
                    continue
                with lock:
                    counts[status] = counts.get(status, 0) + 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        alive = server.poll() is None and request(port, pages[1])[0] == 200
        return {
            "counts": counts,
            "mismatches": mismatches,
            "unanswered": unanswered,
            "alive": alive,
            "rss_before": before,
            "rss_after": rss_mib(server.pid),
        }
    finally:
        stop(server)


def start_server(
    model: Path, port: int, max_batch: int, backend: str = "auto", extra: tuple[str, ...] = ("--max-queue", "256")
) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kuzushiji_tf.serve",
            "--model",
            str(model),
            "--port",
            str(port),
            "--max-batch",
            str(max_batch),
            "--backend",
            backend,
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}") from None
            time.sleep(0.3)
    process.kill()
    raise TimeoutError("server did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def load(port: int, pages: list[bytes], concurrency: int, requests: int) -> dict:
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        latencies = list(pool.map(lambda k: post(port, pages[k % len(pages)]), range(requests)))
        seconds = time.perf_counter() - started
    return {"pages_s": requests / seconds, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)}


def direct(model_path: Path, pages: list[bytes], rounds: int, backend: str) -> dict:
    model = common.load_page_model(model_path, backend)
    model([pages[0]])  # warm-up: graph tracing, session start
    times = []
    for _ in range(rounds):
        for page in pages:
            started = time.perf_counter()
            model([page])
            times.append(time.perf_counter() - started)
    return {"p50": percentile(times, 0.5), "mean": statistics.mean(times), "model": model}


def resolve_models(args, pages: list[bytes], root: Path) -> tuple[Path, Path | None, str]:
    """(SavedModel or ONNX export to serve, --onnx or None, what they are): --model; else the newest
    saved_models/kuzushiji_page version; else, with --quick, a tiny untrained SavedModel made in `root`."""
    if args.model:
        return Path(args.model), args.onnx and Path(args.onnx), f"--model {args.model}"
    found = common.newest_page_model()
    if found is not None:
        return found, args.onnx and Path(args.onnx), f"newest in {common.PAGE_MODEL_DIR}: {found}"
    if not args.quick:
        raise SystemExit(
            f"{common.PAGE_MODEL_DIR}: no exported page recogniser; pass --model (tools/export.py, "
            "make demo), or --quick to time the pipeline on a tiny untrained export made on the spot"
        )
    exports, note = common.on_the_spot_export(root, pages, formats=("savedmodel",), seed=args.seed)
    return exports["savedmodel"], args.onnx and Path(args.onnx), f"{common.no_model_note()} ({note})"


def main(argv=None) -> int:
    args = parse_args(argv)
    common.quiet_tensorflow()
    rounds = args.rounds or (1 if args.quick else 2)
    pages = [
        p.read_bytes()
        for p in sorted((SAMPLE / "train_images").glob("*.jpg")) + sorted((SAMPLE / "test_images").glob("*.jpg"))
    ]
    common.banner("HTTP serving of the page recogniser", args, {"pages": len(pages)})
    root = Path(tempfile.mkdtemp(prefix="bench_serving_"))  # an export made on the spot goes here
    try:
        started = time.perf_counter()
        model, onnx, note = resolve_models(args, pages, root)
        print(
            f"models  : {note}; served: {model}"
            + (f"; compared: {onnx}" if onnx else "")
            + (f" (made in {time.perf_counter() - started:.0f} s)" if model.is_relative_to(root) else "")
        )
        return measure(args, model, onnx, pages, rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(args, model: Path, onnx: Path | None, pages: list[bytes], rounds: int) -> int:
    tf_direct = direct(model, pages, rounds, "auto")
    rows = [["TF SavedModel, direct call", tf_direct["p50"], tf_direct["mean"], 1 / tf_direct["mean"], 1.0]]
    if onnx:
        onnx_direct = direct(onnx, pages, rounds, "onnx")
        rows.append(
            [
                "ONNX Runtime, direct call",
                onnx_direct["p50"],
                onnx_direct["mean"],
                1 / onnx_direct["mean"],
                tf_direct["mean"] / onnx_direct["mean"],
            ]
        )
    common.print_table(
        ["backend (1 page a call)", "p50 s", "mean s", "pages/s", "speed-up vs TF"], rows, "The model alone, same pages"
    )
    del tf_direct["model"]

    results = {}
    requests = {1: len(pages) * rounds, 4: 8 if args.quick else 16, 16: 16 if args.quick else 32}
    for batching, max_batch in (("on", args.max_batch), ("off", 1)):
        server = start_server(model, args.port, max_batch)
        try:
            load(args.port, pages[:2], 1, 2)  # warm-up
            for c in CONCURRENCY:
                results[(batching, c)] = load(args.port, pages, c, requests[c])
        finally:
            stop(server)
    rows = [
        [f"batching {b} (max {args.max_batch if b == 'on' else 1})", c, r["pages_s"], r["p50"], r["p95"]]
        for (b, c), r in results.items()
    ]
    common.print_table(
        ["server", "concurrency", "pages/s", "p50 s", "p95 s"],
        rows,
        f"POST /recognize, {len(pages)} real pages in turn",
    )
    overhead = results[("on", 1)]["p50"] / tf_direct["p50"] - 1
    print()
    print(
        common.goal_line(
            "server overhead over the direct call at concurrency 1 (p50)",
            100 * overhead,
            10,
            higher_is_better=False,
            unit=" %",
        )
    )
    for c in CONCURRENCY[1:]:
        print(
            f"batching on/off at concurrency {c}: {results[('on', c)]['pages_s'] / results[('off', c)]['pages_s']:.2f}x pages/s"
        )
    fault_seconds = args.fault_seconds if args.fault_seconds is not None else (6 if args.quick else 30)
    if fault_seconds > 0:
        f = faults(model, args.port, pages, fault_seconds)
        print(
            f"faults ({fault_seconds:g} s, 16 clients, queue 4): answers by status {f['counts']}; unanswered "
            f"{f['unanswered']}; good answers differing from the single-request answer {f['mismatches']}; "
            f"server up afterwards: {f['alive']}; RSS {f['rss_before']:.0f} -> {f['rss_after']:.0f} MiB"
        )
    print(common.load_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
