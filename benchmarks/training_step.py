"""Training-step throughput of the two models at the recipe's sizes on synthetic tensors (no input
pipeline: the train step only; the classifier's step includes its random crop view, `CropTrainView`,
from 144-px uint8 stored crops, and is timed without it too), with the project's losses and the recipe's optimiser (SGD Nesterov 0.9,
weight decay, global-norm clip 100; a loss-scale optimiser under mixed_float16), and from it the
projected time of the full recipe: 700 detector epochs over 3,881 pages at batch 16 (ResNet18 CenterNet,
416 px) plus 1,000 classifier epochs of 20,000 crops at batch 192 (MobileNetV3Small, 112 px, 4,212
classes). Goal: <= 4 hours on one H100.

The backend is Keras's: `KERAS_BACKEND=tensorflow` (default) runs a tf.function step with a GradientTape;
`KERAS_BACKEND=jax` runs a jitted `stateless_call` + `jax.value_and_grad` + `optimizer.stateless_apply`
step and never imports TensorFlow (keras-hub imports it when it is installed; this script keeps it out,
so the JAX step owns the accelerator and the check that `kuzushiji_tf.models` needs no TF is real).

    python benchmarks/training_step.py --quick                          # < 2 minutes on 2 cores
    KERAS_BACKEND=jax python benchmarks/training_step.py --precision mixed_bfloat16
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial

import numpy as np

import common

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# docs/recipe.md: the recipe's sizes.
DETECTOR = {"batch": 16, "input": 416, "stride": 4, "max_chars": 512, "lr": 1e-3, "weight_decay": 1e-5}
# "stored": record_images.DEFAULT_CROP_SIZE, not imported: kuzushiji_tf.data needs OpenCV and TensorFlow.
CLASSIFIER = {"batch": 192, "input": 112, "stored": 144, "classes": 4212, "lr": 0.1, "weight_decay": 1e-4}
CLIP_NORM = 100.0
DETECTOR_EPOCHS, TRAIN_PAGES = 700, 3881
CLASSIFIER_EPOCHS, CROPS_PER_EPOCH = 1000, 20_000
GOAL_HOURS = 4.0
CLASSIFIER_MODEL_ONLY = "classifier model only"  # informative: the step without the crop view
CHARS_PER_CROP = 64  # characters in a 416-px training crop (~40 % of a page of ~150)


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="Keras dtype policy")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per model (3 quick, 20 full)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first, tracing or compiling (1 quick, 2 full)"
    )
    parser.add_argument(
        "--detector-batch",
        type=int,
        default=None,
        help=f"default {DETECTOR['batch']} (2 with --quick, extrapolated to {DETECTOR['batch']})",
    )
    parser.add_argument(
        "--classifier-batch",
        type=int,
        default=None,
        help=f"default {CLASSIFIER['batch']} (48 with --quick, extrapolated to {CLASSIFIER['batch']})",
    )
    parser.add_argument("--only", choices=("detector", "classifier"), default=None, help="time one model")
    parser.add_argument("--jit", action="store_true", help="TensorFlow backend: tf.function(jit_compile=True)")
    parser.add_argument(
        "--flops",
        action="store_true",
        help="JAX backend: XLA's FLOP count of the step, and the recipe time at --assume-tflops",
    )
    parser.add_argument(
        "--assume-tflops",
        type=float,
        default=40.0,
        help="sustained TFLOP/s for the --flops estimate (default 40: ~10%% of an H100's dense "
        "bf16 peak, what convnet training typically sustains)",
    )
    parser.add_argument(
        "--allow-tensorflow",
        action="store_true",
        help="JAX backend: let keras-hub import TensorFlow (by default it is kept out)",
    )
    args = parser.parse_args(argv)
    args.steps = args.steps or (3 if args.quick else 20)
    args.warmup = args.warmup or (1 if args.quick else 2)
    args.detector_batch = args.detector_batch or (2 if args.quick else DETECTOR["batch"])
    args.classifier_batch = args.classifier_batch or (48 if args.quick else CLASSIFIER["batch"])
    return args


# ------------------------------------------------------------------ synthetic batches (numpy)
def detector_batch(batch: int, rng) -> tuple[np.ndarray, dict]:
    from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE

    side, cells, k = DETECTOR["input"], DETECTOR["input"] // DETECTOR["stride"], DETECTOR["max_chars"]
    images = rng.uniform(0, 255, (batch, side, side, 3)).astype(np.float32)
    heatmap = (rng.uniform(0, 1, (batch, cells, cells, 1)) ** 8).astype(np.float32)  # mostly ~0, as real targets
    indices = rng.integers(0, cells * cells, (batch, k)).astype(np.int32)
    np.put_along_axis(heatmap.reshape(batch, -1), indices[:, :CHARS_PER_CROP], 1.0, axis=1)
    mask = np.zeros((batch, k), np.float32)
    mask[:, :CHARS_PER_CROP] = 1.0
    targets = {
        HEATMAP: heatmap,
        SIZE: rng.uniform(2, 20, (batch, k, 2)).astype(np.float32),
        OFFSET: rng.uniform(0, 1, (batch, k, 2)).astype(np.float32),
        INDICES: indices,
        MASK: mask,
    }
    return images, targets


def classifier_batch(batch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    side = CLASSIFIER["input"]
    return (
        rng.uniform(0, 255, (batch, side, side, 3)).astype(np.float32),
        rng.integers(0, CLASSIFIER["classes"], (batch,)).astype(np.int32),
    )


def classifier_crops(batch: int, rng) -> tuple[tuple[np.ndarray, dict], np.ndarray]:
    """((stored uint8 crops, view draws), labels): the train step's input with the view on the device.
    The draws are numpy stand-ins in the recipe's ranges (the view's cost does not depend on them), so
    the JAX backend needs no TensorFlow for `classifier_input.sample_view_params`."""
    side, uniform, stored = CLASSIFIER["input"], rng.uniform, CLASSIFIER["stored"]
    crops = rng.integers(0, 256, (batch, stored, stored, 3)).astype(np.uint8)
    fire = uniform(0, 1, (batch, 4)) < 0.5
    view = {
        "window": np.concatenate([uniform(0.45, 0.55, (batch, 2)), uniform(0.79, 0.93, (batch, 2))], 1),
        "warp": rng.integers(0, 4, (batch,)),
        "angle": uniform(-0.087, 0.087, (batch,)),
        "grid_stretch": uniform(-0.3, 0.3, (batch, 2, 5)),
        "elastic": rng.normal(0, 0.015 * side, (batch, 8, 8, 2)),
        "rgb_shift": uniform(-20, 20, (batch, 3)) * fire[:, :1],
        "contrast": np.where(fire[:, 1], uniform(0.8, 1.2, batch), 1),
        "brightness": np.where(fire[:, 1], uniform(-51, 51, batch), 0),
        "noise_std": np.where(fire[:, 2], 5.0, 0.0),
        "noise_pick": uniform(0, 1, (batch, 3)),
        "hole": np.where(fire[:, 3:], [[40, 40, 12, 12]], 0),
    }
    view = {key: value.astype(np.int32 if key == "warp" else np.float32) for key, value in view.items()}
    return (crops, view), rng.integers(0, CLASSIFIER["classes"], (batch,)).astype(np.int32)


# ------------------------------------------------------------------ one train step per backend
def make_optimizer(keras, lr: float, weight_decay: float, precision: str):
    optimizer = keras.optimizers.SGD(
        lr, momentum=0.9, nesterov=True, weight_decay=weight_decay, global_clipnorm=CLIP_NORM
    )
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def tensorflow_step(model, loss_fn, optimizer, x, y, jit: bool, prepare):
    """A callable running one step (tf.function, GradientTape) and returning the loss tensor; `prepare`
    turns x into the model's input inside the step."""
    import tensorflow as tf

    x, y = tf.nest.map_structure(tf.constant, x), tf.nest.map_structure(tf.constant, y)

    @tf.function(jit_compile=jit)
    def step(x, y):
        x = prepare(x)
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    return lambda: step(x, y), lambda loss: float(loss)


def jax_step(keras, model, loss_fn, optimizer, x, y, prepare):
    """A callable running one jitted stateless step (value_and_grad + stateless_apply) on device state."""
    import jax

    optimizer.build(model.trainable_variables)
    state = [
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    ]
    x, y = jax.device_put(x), jax.device_put(y)

    def compute(trainable, non_trainable, optimizer_values, x, y):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, prepare(x), training=True)
        loss = loss_fn(y, outputs)
        # As Keras's own JAX trainer: the loss scale (mixed_float16) is read from the optimizer state.
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_values))):
            scaled = optimizer.scale_loss(loss)
        return scaled, (loss, non_trainable)

    gradient_fn = jax.value_and_grad(compute, has_aux=True)

    @partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(trainable, non_trainable, optimizer_values, x, y):
        (_, (loss, non_trainable)), gradients = gradient_fn(trainable, non_trainable, optimizer_values, x, y)
        trainable, optimizer_values = optimizer.stateless_apply(optimizer_values, gradients, trainable)
        return loss, trainable, non_trainable, optimizer_values

    def run():
        loss, *state[:] = step(*state, x, y)
        return loss

    def flops() -> float:
        """XLA's own count of the compiled step's floating-point operations."""
        analysis = step.lower(*state, x, y).compile().cost_analysis()
        analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
        return float(analysis.get("flops", float("nan")))

    run.flops = flops
    return run, lambda loss: float(jax.block_until_ready(loss))


def time_model(name: str, args, backend: str) -> dict:
    import keras

    from kuzushiji_tf.models.centernet import TOTAL as DET_TOTAL
    from kuzushiji_tf.models.centernet import build_centernet, centernet_loss
    from kuzushiji_tf.models.classifier import TOTAL as CLS_TOTAL
    from kuzushiji_tf.models.classifier import CropTrainView, build_classifier, classifier_loss

    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    prepare = lambda x: x  # noqa: E731
    if name == "detector":
        batch, recipe = args.detector_batch, DETECTOR
        model = build_centernet("resnet18", dtype=args.precision)
        x, y = detector_batch(batch, rng)
        loss_fn = lambda targets, outputs: centernet_loss(targets, outputs)[DET_TOTAL]  # noqa: E731
    else:
        batch, recipe = args.classifier_batch, CLASSIFIER
        model = build_classifier(CLASSIFIER["classes"], input_size=CLASSIFIER["input"], dtype=args.precision)
        if name == "classifier":
            x, y = classifier_crops(batch, rng)
            view = CropTrainView(CLASSIFIER["input"])
            prepare = lambda x: view(*x)  # noqa: E731
        else:  # the model alone, on finished views
            x, y = classifier_batch(batch, rng)
        loss_fn = lambda labels, outputs: classifier_loss(labels, outputs)[CLS_TOTAL]  # noqa: E731
    optimizer = make_optimizer(keras, recipe["lr"], recipe["weight_decay"], args.precision)
    if backend == "jax":
        step, fetch = jax_step(keras, model, loss_fn, optimizer, x, y, prepare)
    else:
        step, fetch = tensorflow_step(model, loss_fn, optimizer, x, y, args.jit, prepare)

    started = time.perf_counter()
    for _ in range(args.warmup):
        loss = step()
    first_loss = fetch(loss)
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    last_loss = fetch(loss)
    seconds = time.perf_counter() - started
    rate = args.steps / seconds
    flops = step.flops() * recipe["batch"] / batch if args.flops and hasattr(step, "flops") else float("nan")
    # Linear extrapolation to the recipe's batch (exact on a saturated CPU, pessimistic on an accelerator).
    recipe_rate = rate * batch / recipe["batch"]
    return {
        "model": name,
        "batch": batch,
        "recipe_batch": recipe["batch"],
        "steps": args.steps,
        "rate": rate,
        "recipe_rate": recipe_rate,
        "warm_s": warm_s,
        "loss": (first_loss, last_loss),
        "params": model.count_params(),
        "flops": flops,
    }


class _NoTensorFlow:
    """A meta-path finder under which `import tensorflow` fails as on a machine without it. (Not
    `sys.modules["tensorflow"] = None`: Keras tests `"tensorflow" in sys.modules` to detect a tf graph.)"""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (kept out by training_step.py)", name=name)
        return None


def main(argv=None) -> int:
    args = parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    started = time.perf_counter()
    if backend == "jax":
        try:
            import jax
        except ImportError:
            common.banner("training_step: recipe step throughput", args, {"backend": backend})
            print("JAX is not installed in this environment: skipped (pip install 'jax[cuda12]' or 'jax[cpu]').")
            return 0
        if not args.allow_tensorflow:
            sys.meta_path.insert(0, _NoTensorFlow())
        device = f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind}, {len(jax.devices())} device(s))"
    elif backend == "tensorflow":
        common.quiet_tensorflow()
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = f"GPU x{len(gpus)}" if gpus else "CPU"
    else:
        print(f"training_step: KERAS_BACKEND must be tensorflow or jax; received {backend!r}", file=sys.stderr)
        return 2
    common.banner("training_step: recipe step throughput", args, {"backend": backend, "device": device})

    results = [
        time_model(name, args, backend)
        for name in ("detector", "classifier", CLASSIFIER_MODEL_ONLY)
        if args.only in (None, name.split()[0])
    ]
    rows = [
        [
            r["model"],
            r["batch"],
            r["steps"],
            r["rate"],
            r["rate"] * r["batch"],
            r["recipe_batch"],
            r["recipe_rate"],
            r["warm_s"],
            f"{r['loss'][0]:.3g} -> {r['loss'][1]:.3g}",
            f"{r['params'] / 1e6:.1f} M",
        ]
        for r in results
    ]
    common.print_table(
        [
            "model",
            "batch",
            "steps",
            "steps/s",
            "samples/s",
            "recipe batch",
            "steps/s at recipe",
            "warm-up s",
            "loss",
            "params",
        ],
        rows,
        f"Train step, {backend} backend, {args.precision}, {device}",
    )
    if any(r["batch"] != r["recipe_batch"] for r in results):
        print(
            "NOTE: steps/s at the recipe batch is EXTRAPOLATED linearly from the smaller batch measured here "
            "(steps/s x batch / recipe batch)."
        )

    steps = {
        "detector": DETECTOR_EPOCHS * (TRAIN_PAGES // DETECTOR["batch"]),
        "classifier": CLASSIFIER_EPOCHS * (CROPS_PER_EPOCH // CLASSIFIER["batch"]),
    }
    hours = {r["model"]: steps[r["model"]] / r["recipe_rate"] / 3600 for r in results if r["model"] in steps}
    rate = {r["model"]: r["rate"] for r in results}
    if "classifier" in rate and CLASSIFIER_MODEL_ONLY in rate:
        print(
            f"\nCrop view's share of the classifier step: {1 - rate['classifier'] / rate[CLASSIFIER_MODEL_ONLY]:.3f} "
            f"(1 - steps/s with it / steps/s without it)"
        )
    print("\nProjected recipe time on this machine (model steps only, no input pipeline, no evaluation):")
    for name, value in hours.items():
        print(f"  {name}: {steps[name]:,} steps -> {value:,.1f} h")
    if len(hours) == 2:
        total = sum(hours.values())
        print("  " + common.goal_line(f"total on {device}", total, GOAL_HOURS, higher_is_better=False, unit=" h"))
        if "GPU" not in device.upper() and "cuda" not in device.lower():
            print("  (the goal is for one H100; a CPU figure only checks the script: rerun on a GPU machine)")
    if any(r["flops"] == r["flops"] for r in results):  # not NaN
        print(f"\nESTIMATE from XLA's FLOP count (not a measurement), at {args.assume_tflops:g} TFLOP/s sustained:")
        estimate = 0.0
        for r in (r for r in results if r["model"] in steps):
            step_s = r["flops"] / (args.assume_tflops * 1e12)
            estimate += steps[r["model"]] * step_s / 3600
            print(
                f"  {r['model']}: {r['flops'] / 1e9:,.0f} GFLOP per recipe-batch step -> "
                f"{steps[r['model']] * step_s / 3600:.2f} h"
            )
        print(f"  total {estimate:.2f} h (goal <= {GOAL_HOURS:g} h)")
    if backend == "jax":
        loaded = "tensorflow" in sys.modules
        print(f"\ntensorflow imported under the JAX backend: {'yes' if loaded else 'no'}")
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; {common.load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
