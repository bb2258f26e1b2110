"""A multi-worker cluster on one machine, for trying `--strategy multi_worker` without a second machine:
free loopback ports, one TF_CONFIG per worker, and supervision of the worker processes (their output
streamed with a `[worker K]` prefix; one failure stops all, since the others would wait forever in their
collectives). Plain Python: no TensorFlow is loaded here.

Workers are only ever addressed on 127.0.0.1. TensorFlow's gRPC server itself listens on its port on every
interface (its bind address is fixed to 0.0.0.0), so on a machine reachable from an untrusted network
those ports want a firewall while the workers run.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

LOOPBACK = "127.0.0.1"  # the only address used: workers talk unauthenticated, in plain gRPC
DEFAULT_GRACE_SECONDS = 10.0


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel reports free on 127.0.0.1. The sockets stay open until all are
    picked, so no port is handed out twice; another program may still take one before a worker binds it."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports: list[int], index: int) -> dict:
    """The TF_CONFIG of worker `index` in a cluster of workers on `ports` of 127.0.0.1 (worker 0 is chief)."""
    if not 0 <= index < len(ports):
        raise ValueError(f"worker index must be in [0, {len(ports)}); received {index}")
    return {"cluster": {"worker": [f"{LOOPBACK}:{port}" for port in ports]}, "task": {"type": "worker", "index": index}}


def train_command(train_args: list[str]) -> list[str]:
    """The command every worker runs: the same training arguments, under the multi-worker strategy."""
    given = [train_args[i + 1] for i, arg in enumerate(train_args[:-1]) if arg == "--strategy"]
    given += [arg.split("=", 1)[1] for arg in train_args if arg.startswith("--strategy=")]
    if any(value != "multi_worker" for value in given):
        raise ValueError(f"a local cluster trains with --strategy multi_worker; received --strategy {given[-1]}")
    return [sys.executable, "-m", "kuzushiji_tf.train", *train_args, "--strategy", "multi_worker"]


def _exit_code(returncode: int) -> int:
    """A shell's exit status for a child's return code (a signal N gives 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def _stop(processes: list[subprocess.Popen], grace_seconds: float) -> None:
    """SIGTERM to the ones still running, then SIGKILL to those still running after the grace period."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pump(index: int, stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(f"[worker {index}] {line.rstrip()}")
    stream.close()


def run_cluster(
    train_args: list[str],
    workers: int,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    out: TextIO | None = None,
    env: dict | None = None,
    on_start: Callable[[list[subprocess.Popen]], None] | None = None,
) -> int:
    """Starts `workers` training processes on free 127.0.0.1 ports and waits for them.

    Returns 0 when every worker exits 0. When one exits non-zero the others are stopped (SIGTERM, SIGKILL
    after `grace_seconds`) and its exit status is returned; Ctrl-C stops them all and returns 130.
    `env` is the base environment (default: this process's); `on_start` sees the processes once started.
    """
    if workers < 1:
        raise ValueError(f"--workers must be at least 1; received {workers}")
    out = out or sys.stdout
    command = train_command(train_args)
    base = dict(os.environ if env is None else env)
    base["PYTHONUNBUFFERED"] = "1"  # lines arrive as they are printed, not when a buffer fills
    ports = free_ports(workers)
    lines: queue.Queue = queue.Queue()
    processes, pumps = [], []
    try:
        for index in range(workers):
            worker_env = {**base, "TF_CONFIG": json.dumps(tf_config(ports, index))}
            process = subprocess.Popen(
                command,
                env=worker_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            processes.append(process)
            pumps.append(threading.Thread(target=_pump, args=(index, process.stdout, lines), daemon=True))
            pumps[-1].start()
        if on_start is not None:
            on_start(processes)
        status = 0
        while True:
            _drain(lines, out, timeout=0.2)
            codes = [process.poll() for process in processes]
            failed = next((i for i, code in enumerate(codes) if code not in (None, 0)), None)
            if failed is not None:
                print(
                    f"[cluster] worker {failed} exited with status {_exit_code(codes[failed])}; stopping the others",
                    file=out,
                    flush=True,
                )
                status = _exit_code(codes[failed])
                break
            if all(code == 0 for code in codes):
                break
    except KeyboardInterrupt:
        print("[cluster] interrupted; stopping the workers", file=out, flush=True)
        status = 128 + signal.SIGINT
    finally:
        _stop(processes, grace_seconds)
        for pump in pumps:
            pump.join(timeout=5)
        _drain(lines, out, timeout=0)
    return status


def _drain(lines: queue.Queue, out: TextIO, timeout: float) -> None:
    try:
        line = lines.get(timeout=timeout) if timeout else lines.get_nowait()
        while True:
            print(line, file=out, flush=True)
            line = lines.get_nowait()
    except queue.Empty:
        pass
