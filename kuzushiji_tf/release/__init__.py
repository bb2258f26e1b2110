"""The release model: its recipe (`recipe`) and the state of a run of it (`state`), for
`kuzushiji-release-model` (kuzushiji_tf/cli/release_model.py). Pure Python: no TensorFlow."""
