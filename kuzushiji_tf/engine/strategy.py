"""Choosing the tf.distribute strategy and the mixed-precision policy from two command-line words.

`auto` picks what a user on that machine wants: MirroredStrategy over several GPUs, the default strategy
on one device. Mixed precision `auto` is float32 on CPU (measured slower there) and mixed_float16 on GPU.
"""

from __future__ import annotations

import json
import os
import tempfile

import keras
import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "off", "float16", "bfloat16")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {STRATEGIES}; received {name!r}")
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multi_worker needs TF_CONFIG (cluster and task) in the environment; "
                "see docs/scaling.md or kuzushiji-launch-local-cluster"
            )
        # Must be the first TensorFlow call of the process: it configures the runtime's collective ops.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def precision_policy(name: str = "auto") -> str:
    """The Keras dtype policy name for a --mixed-precision word."""
    if name not in PRECISIONS:
        raise ValueError(f"--mixed-precision must be one of {PRECISIONS}; received {name!r}")
    if name == "auto":
        # Physical, not logical, devices: listing logical ones starts the TF runtime, after which a
        # MultiWorkerMirroredStrategy can no longer configure its collectives.
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[name]


def set_precision(name: str = "auto") -> str:
    policy = precision_policy(name)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Only the chief writes checkpoints, logs and exports; TF_CONFIG worker 0 is chief when none is named."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's index in TF_CONFIG's cluster (0 outside a multi-worker cluster)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 0
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def writable_dir(path: str, strategy: tf.distribute.Strategy) -> str:
    """The chief writes to `path`; other workers to a private temporary folder, as MultiWorkerMirroredStrategy
    requires every worker to save (the collective ops need all of them) but only one copy may survive."""
    if is_chief(strategy):
        return path
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return tempfile.mkdtemp(prefix=f"worker{task.get('index', 0)}-")


def wait_for_workers(strategy: tf.distribute.Strategy) -> None:
    """A barrier (one all-reduce) so that no worker exits while another still saves: the chief's exit takes
    the cluster's coordination service down with it."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        tf.function(lambda: strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None))()
