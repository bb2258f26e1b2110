"""Strategy and precision words from the command line, and who writes in a multi-worker cluster."""

import json

import pytest

from kuzushiji_tf.engine.strategy import is_chief, make_strategy, precision_policy, worker_index, writable_dir


def test_precision_auto_is_float32_on_cpu_and_words_map_to_policies():
    assert precision_policy("auto") == "float32"  # no GPU here
    assert precision_policy("off") == "float32"
    assert precision_policy("float16") == "mixed_float16"
    assert precision_policy("bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="--mixed-precision must be one of"):
        precision_policy("half")


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="--strategy must be one of"):
        make_strategy("tpu")


def test_only_the_chief_writes_to_the_real_folder(monkeypatch, tmp_path):
    class FakeMultiWorker:  # is_chief only asks for the type
        pass

    import tensorflow as tf

    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", FakeMultiWorker)
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert is_chief(FakeMultiWorker()) and writable_dir(str(tmp_path), FakeMultiWorker()) == str(tmp_path)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief(FakeMultiWorker()) and worker_index(FakeMultiWorker()) == 1
    assert writable_dir(str(tmp_path), FakeMultiWorker()) != str(tmp_path)
    assert is_chief(tf.distribute.get_strategy()) and worker_index(tf.distribute.get_strategy()) == 0
