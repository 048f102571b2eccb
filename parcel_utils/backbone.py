"""The course's offline pretrained backbone, its source task, and the latent space.

ImageNet weights cannot be downloaded offline (nor in a grading sandbox), so
the package ships its own pretrained feature extraction network (FEN): a
``keras.applications.MobileNetV2`` (``alpha=0.35``, the smallest width Keras
offers) pretrained on a *source task* that is distinct from the parcel
classes: scenes of one to three touching 3D primitives of twelve kinds
(spheres, cones, pyramids, tori, stairs, rings, prisms, ...) seen by the
parcel sensor, labelled with the kind of the largest primitive and the
number of primitives (:func:`make_primitive_scenes`).  The lecture's
transfer-learning recipe then applies: remove the top, add a new head,
freeze the FEN, train the head, fine-tune the last blocks with a low
learning rate.

* :func:`make_primitive_scenes` -- the source task (the parcel sensor model
  of :mod:`parcel_utils.data` on scenes of primitives);
  :func:`make_primitives`, one clean primitive per map (vectorised NumPy).
* :func:`build_backbone` -- the architecture, depth maps in millimetres in,
  a global-average-pooled feature vector out.
* :func:`load_backbone` -- the architecture with weights by name
  (``"parcel-primitives"``, bundled; ``"imagenet"``, needs Keras' download or
  cache) or from a path.
* :func:`pretrain` -- rebuilds the bundled weights: ``python -m
  parcel_utils.backbone --train`` (see ``weights/MODEL_CARD.md``).
* :func:`extract_features` -- the backbone as a feature extractor: the
  latent representation of each map.

Example
-------
>>> from parcel_utils.backbone import make_primitives
>>> X, y = make_primitives(8, size=48, seed=0)
>>> X.shape, X.dtype, y.shape
((8, 48, 48), dtype('float32'), (8,))
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

__all__ = [
    "PRIMITIVES", "INPUT_SIZE", "HEIGHT_SCALE_MM", "WEIGHTS_DIR", "BUNDLED",
    "make_primitives", "make_primitive_scenes", "MAX_OBJECTS", "build_backbone", "load_backbone", "pretrain",
    "extract_features", "OfflineWeightsError",
]

#: The source-task classes, in label order.
PRIMITIVES = (
    "sphere", "ellipsoid", "cone", "pyramid", "torus", "ring",
    "stairs", "prism", "wedge", "l_shape", "cross", "frustum",
)
#: Side in pixels of the maps the bundled weights were pretrained on.
INPUT_SIZE = 64
#: Heights are divided by this (mm) inside the network: 0..300 mm -> 0..2.
HEIGHT_SCALE_MM = 150.0
#: MobileNetV2 width multiplier of the bundled weights.
ALPHA = 0.35
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Weights the package bundles, by name.
BUNDLED = {"parcel-primitives": WEIGHTS_DIR / "parcel_primitives_mobilenetv2_a035.weights.h5"}


class OfflineWeightsError(RuntimeError):
    """Weights that must be downloaded could not be, and none are cached."""


# --------------------------------------------------------------------------
# Source task: depth maps of 3D primitives
# --------------------------------------------------------------------------
def _check_int(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` should be an integer >= {low}, got {value!r}.")
    return int(value)


def _heights(kind, u, v, a, b, h, k):
    """Height (mm) of primitive ``kind`` at local coordinates (u, v).

    All arguments broadcast: u, v are (n, S, S) in pixels, rotated and centred
    on the object; a >= b are half-sizes, h the height, k a per-object integer.
    """
    r = np.sqrt(u * u + v * v)
    au, av = np.abs(u), np.abs(v)
    zero = np.zeros_like(u)
    if kind == "sphere":          # spherical cap
        return h * np.sqrt(np.clip(1 - (r / a) ** 2, 0, None))
    if kind == "ellipsoid":       # elongated dome
        return h * np.sqrt(np.clip(1 - (u / a) ** 2 - (v / b) ** 2, 0, None))
    if kind == "cone":
        return h * np.clip(1 - r / a, 0, None)
    if kind == "pyramid":         # square base
        return h * np.clip(1 - np.maximum(au, av) / a, 0, None)
    if kind == "torus":           # tube of radius t around a circle of radius R
        t = 0.3 * a
        R = a - t
        return h * np.sqrt(np.clip(1 - ((r - R) / t) ** 2, 0, None))
    if kind == "ring":            # flat annulus
        return np.where((r < a) & (r > 0.55 * a), h, zero)
    if kind == "stairs":          # k steps rising along u
        inside = (au < a) & (av < b)
        step = np.floor((u + a) / (2 * a) * k) + 1
        return np.where(inside, h * np.clip(step, 1, k) / k, zero)
    if kind == "prism":           # triangular prism lying along u
        return np.where(au < a, h * np.clip(1 - av / b, 0, None), zero)
    if kind == "wedge":           # ramp rising along u
        inside = (au < a) & (av < b)
        return np.where(inside, h * (0.15 + 0.85 * (u + a) / (2 * a)), zero)
    if kind == "l_shape":         # extruded L in the square [-a, a]^2
        t = 0.8 * b
        inside = (au < a) & (av < a) & ((u < -a + t) | (v < -a + t))
        return np.where(inside, h, zero)
    if kind == "cross":           # extruded plus sign
        t = 0.45 * b
        inside = ((au < t) & (av < a)) | ((av < t) & (au < a))
        return np.where(inside, h, zero)
    if kind == "frustum":         # truncated cone: flat top, sloped sides
        return h * np.clip((1 - r / a) / 0.5, 0, 1)
    raise ValueError(f"unknown primitive {kind!r}")


def make_primitives(n, size=INPUT_SIZE, seed=None, noise_mm=2.0, dropout=0.03):
    """Depth maps of one clean 3D primitive each (no sensor artefacts but noise and holes).

    The first source task of the backbone, kept to show the primitives one
    at a time; the bundled weights are pretrained on :func:`make_primitive_scenes`.

    Each map shows one primitive of a random kind (see :data:`PRIMITIVES`),
    size, height (20-300 mm), position and orientation, seen from above as
    by the parcel sensor: heights in mm above the belt, Gaussian sensor noise
    on measured pixels, and random missing measurements (0).

    Parameters
    ----------
    n : int
        Number of maps.
    size : int, default INPUT_SIZE
        Side of the square maps in pixels (>= 16).
    seed : int or None
        Seed of the generator; the same seed gives the same maps bit for bit.
    noise_mm : float, default 2.0
        Standard deviation of the sensor noise in mm.
    dropout : float, default 0.03
        Fraction of pixels with no measurement.

    Returns
    -------
    X : ndarray, shape (n, size, size), float32
        Heights in mm, 0 where nothing is measured.
    y : ndarray, shape (n,), int64
        Index into :data:`PRIMITIVES`.

    Example
    -------
    >>> X, y = make_primitives(4, size=32, seed=1)
    >>> bool((X >= 0).all()), [PRIMITIVES[k] for k in y]
    (True, ['ring', 'stairs', 'l_shape', 'frustum'])
    """
    n = _check_int(n, "n", low=0)
    size = _check_int(size, "size", low=16)
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` should be a fraction in [0, 1), got {dropout!r}.")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(PRIMITIVES), size=n)
    s = float(size)
    a = rng.uniform(0.18, 0.42, n) * s                 # half-length (px)
    b = a * rng.uniform(0.35, 0.75, n)                  # half-width (px)
    h = rng.uniform(20.0, 300.0, n)                      # height (mm)
    k = rng.integers(3, 6, n)                            # steps of the stairs
    theta = rng.uniform(0, 2 * np.pi, n)
    margin = np.maximum(s / 2 - a - 1, 0)
    cx = s / 2 + rng.uniform(-1, 1, n) * margin * 0.8
    cy = s / 2 + rng.uniform(-1, 1, n) * margin * 0.8
    tilt = rng.normal(0, 0.02, (n, 2))                   # slight belt tilt, mm / px
    noise = rng.normal(0.0, noise_mm, (n, size, size))
    holes = rng.random((n, size, size)) < dropout

    grid = np.arange(size, dtype=np.float64) + 0.5
    X = np.zeros((n, size, size))
    for c, kind in enumerate(PRIMITIVES):
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            continue
        col = lambda p: p[idx, None, None]  # noqa: E731
        dx = grid[None, None, :] - col(cx)
        dy = grid[None, :, None] - col(cy)
        ct, st = np.cos(col(theta)), np.sin(col(theta))
        u = ct * dx + st * dy
        v = -st * dx + ct * dy
        X[idx] = _heights(kind, u, v, col(a), col(b), col(h), col(k))
    measured = X > 0.5
    plane = tilt[:, 0, None, None] * (grid[None, None, :] - s / 2) + tilt[:, 1, None, None] * (grid[None, :, None] - s / 2)
    X = np.where(measured, np.clip(X + plane + noise, 0.5, None), 0.0)
    X[holes] = 0.0
    return X.astype(np.float32), y.astype(np.int64)


#: Number of objects in a scene of :func:`make_primitive_scenes` (label index + 1).
MAX_OBJECTS = 3
_ROUND_KINDS = frozenset({"sphere", "cone", "pyramid", "torus", "ring", "l_shape", "cross", "frustum"})


def _scene_heights(rng, n_obj, grid_mm, field):
    """True heights (mm) of one scene of ``n_obj`` touching primitives on a ``field`` mm wide; kind of the first."""
    kinds = rng.integers(0, len(PRIMITIVES), n_obj)
    a = rng.uniform(60.0, 170.0) * np.concatenate([[1.0], rng.uniform(0.5, 0.9, n_obj - 1)])
    b = np.where([PRIMITIVES[k] in _ROUND_KINDS for k in kinds], a, a * rng.uniform(0.35, 0.75, n_obj))
    h = np.exp(rng.uniform(np.log(20.0), np.log(300.0), n_obj))
    theta = rng.uniform(0, 2 * np.pi, n_obj)
    steps = rng.integers(3, 6, n_obj)
    # Chain the objects: each touches (or slightly overlaps) the previous one.
    centres = np.zeros((n_obj, 2))
    for i in range(1, n_obj):
        d = rng.uniform(0, 2 * np.pi)
        dv = np.array([np.cos(d), np.sin(d)])
        ray = [1.0 / np.hypot(np.dot(dv, [np.cos(t), np.sin(t)]) / aa, np.dot(dv, [-np.sin(t), np.cos(t)]) / bb)
               for aa, bb, t in ((a[i - 1], b[i - 1], theta[i - 1]), (a[i], b[i], theta[i]))]
        centres[i] = centres[i - 1] + dv * sum(ray) * rng.uniform(0.85, 1.05)
    lo, hi = (centres - a[:, None]).min(axis=0), (centres + a[:, None]).max(axis=0)
    shrink = min(1.0, 0.95 * field / max((hi - lo).max(), 1e-9))
    centres, a, b = centres * shrink, a * shrink, b * shrink
    lo, hi = (centres - a[:, None]).min(axis=0), (centres + a[:, None]).max(axis=0)
    room = np.maximum(field - (hi - lo), 0)
    centres += rng.uniform(0, 1, 2) * room - lo
    top = np.zeros((grid_mm.size, grid_mm.size))
    for i in range(n_obj):
        dx = grid_mm[None, :] - centres[i, 0]
        dy = grid_mm[:, None] - centres[i, 1]
        c, s = np.cos(theta[i]), np.sin(theta[i])
        top = np.maximum(top, _heights(PRIMITIVES[kinds[i]], c * dx + s * dy, -s * dx + c * dy,
                                       a[i], b[i], h[i], steps[i]))
    return top, int(kinds[0])


def make_primitive_scenes(n, seed=None, max_objects=MAX_OBJECTS):
    """Scenes of 1 to ``max_objects`` touching 3D primitives, seen by the parcel sensor.

    The pretraining task of the bundled backbone.  Each 64 x 64 map (8 mm per
    pixel, as the parcel maps) shows a chain of touching primitives of
    random kinds (:data:`PRIMITIVES`), sizes (the first one the largest),
    heights (20-300 mm, log-uniform) and orientations, rendered through the
    same sensor model as :mod:`parcel_utils.data` (occlusion shadows, flying
    pixels at steep steps, noise, belt tilt, missing returns, 4 mm belt
    threshold).  Two labels per map: the kind of the largest primitive and
    the number of primitives.  Neither is a parcel class.

    Parameters
    ----------
    n : int
        Number of maps.
    seed : int or None
        The same seed gives the same maps bit for bit.
    max_objects : int, default MAX_OBJECTS
        Scenes hold 1 to ``max_objects`` primitives, uniformly.

    Returns
    -------
    X : ndarray (n, 64, 64) float32
        Heights in mm, 0 where nothing is measured.
    kind : ndarray (n,) int64
        Index into :data:`PRIMITIVES` of the largest primitive.
    count : ndarray (n,) int64
        Number of primitives minus one (0 .. max_objects - 1).

    Example
    -------
    >>> X, kind, count = make_primitive_scenes(4, seed=0)
    >>> X.shape, [PRIMITIVES[k] for k in kind], (count + 1).tolist()
    ((4, 64, 64), ['prism', 'ring', 'ellipsoid', 'ellipsoid'], [3, 2, 2, 1])
    """
    from . import data

    n = _check_int(n, "n", low=0)
    max_objects = _check_int(max_objects, "max_objects")
    master = np.random.default_rng(seed)
    counts = master.integers(0, max_objects, n)
    seeds = master.integers(0, 2 ** 63 - 1, n)
    window = data._Window((0.0, 0.0), (data._FIELD, data._FIELD))
    grid = data._C
    X = np.empty((n, data.IMAGE_SIZE, data.IMAGE_SIZE), np.float32)
    kinds = np.empty(n, np.int64)
    for i in range(n):
        rng = np.random.default_rng(seeds[i])
        top, kinds[i] = _scene_heights(rng, int(counts[i]) + 1, grid, data._FIELD)
        X[i] = data._sensor(data._Draws(rng), window, top, None, False)
    return X, kinds, counts.astype(np.int64)


# --------------------------------------------------------------------------
# Architecture and loading
# --------------------------------------------------------------------------
def _check_input_shape(input_shape):
    if input_shape is None:
        return (INPUT_SIZE, INPUT_SIZE, 1)
    shape = tuple(input_shape)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or shape[2] != 1 or min(shape[:2]) < 32:
        raise ValueError(
            f"`input_shape` should be (H, W) or (H, W, 1) with H, W >= 32 (single-channel depth maps), "
            f"got {input_shape!r}.")
    return tuple(int(d) for d in shape)


def build_backbone(input_shape=None, alpha=ALPHA, channels=1, name="backbone"):
    """MobileNetV2 feature extraction network for depth maps in millimetres.

    The model is flat (its ``layers`` are the MobileNetV2 layers, so
    ``for layer in model.layers[:k]: layer.trainable = False`` works as in
    the lecture): ``Input(H, W, 1)`` in mm -> ``Rescaling(1/HEIGHT_SCALE_MM)``
    (-> 3 channels for ImageNet) -> MobileNetV2 without top -> global average
    pooling.  Weights are random; use :func:`load_backbone` for pretrained ones.

    Parameters
    ----------
    input_shape : tuple, default (INPUT_SIZE, INPUT_SIZE, 1)
    alpha : float, default 0.35
        MobileNetV2 width multiplier.
    channels : {1, 3}
        Channels the MobileNetV2 sees: 1 for the bundled weights, 3 to take
        ImageNet weights (the depth map is repeated and put in [-1, 1]).
    name : str

    Returns
    -------
    keras.Model
        Output shape (None, F), F = 1280 for alpha <= 1.

    Example
    -------
    >>> m = build_backbone((48, 48, 1))
    >>> m.output_shape
    (None, 1280)
    """
    import keras
    from keras import layers

    input_shape = _check_input_shape(input_shape)
    inp = keras.Input(input_shape, name="depth_mm")
    if channels == 1:
        x = layers.Rescaling(1.0 / HEIGHT_SCALE_MM, name="mm_to_unit")(inp)
    elif channels == 3:
        x = layers.Rescaling(2.0 / (2 * HEIGHT_SCALE_MM), offset=-1.0, name="mm_to_unit")(inp)
        x = layers.Concatenate(name="to_rgb")([x, x, x])
    else:
        raise ValueError(f"`channels` should be 1 or 3, got {channels!r}.")
    return keras.applications.MobileNetV2(
        input_tensor=x, alpha=alpha, include_top=False, weights=None, pooling="avg", name=name)


def _imagenet_weights(input_shape, alpha, cache_dir=None):
    """Path of ImageNet MobileNetV2 weights (no top), downloading if possible."""
    import keras

    size = 224 if min(input_shape[:2]) > 192 else max(s for s in (96, 128, 160, 192) if s <= max(min(input_shape[:2]), 96))
    fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{size}_no_top.h5"
    url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + fname
    try:
        return keras.utils.get_file(fname, url, cache_subdir="models", cache_dir=cache_dir)
    except Exception as exc:  # no network, DNS failure, proxy, ...
        raise OfflineWeightsError(
            f"Could not download the ImageNet weights of MobileNetV2 ({fname}): this machine seems to be "
            f"offline and Keras has no cached copy in {cache_dir or '~/.keras'}/models. Use the weights bundled with the "
            f"course instead: load_backbone(weights=\"parcel-primitives\"). (Cause: {type(exc).__name__}.)"
        ) from None


def load_backbone(weights="parcel-primitives", input_shape=None, trainable=True, name="backbone",
                  cache_dir=None):
    """The pretrained feature extraction network.

    Parameters
    ----------
    weights : str or path-like, default "parcel-primitives"
        ``"parcel-primitives"``: the weights bundled with the package,
        pretrained on :func:`make_primitive_scenes` (see ``weights/MODEL_CARD.md``).
        ``"imagenet"``: Keras' ImageNet weights (MobileNetV2, alpha=0.35);
        needs the network or Keras' cache, and raises
        :class:`OfflineWeightsError` naming the bundled alternative otherwise.
        A path to a ``.weights.h5`` file saved from :func:`build_backbone`.
        ``None``: random initialisation.
    input_shape : tuple, default (64, 64, 1)
        Depth maps in mm; the network is convolutional, so other sizes
        (>= 32) work, though the bundled weights saw 64 x 64 maps.
    trainable : bool, default True
        Initial ``trainable`` flag of the model (freeze it for transfer
        learning with ``trainable=False`` or ``model.trainable = False``).
    name : str
    cache_dir : path, optional
        Where Keras caches downloads for ``"imagenet"`` (default
        ``$KERAS_HOME`` or ``~/.keras``).

    Returns
    -------
    keras.Model
        ``(None, H, W, 1)`` mm -> ``(None, 1280)`` features.

    Raises
    ------
    OfflineWeightsError
        ``weights="imagenet"`` on a machine that cannot download them and has
        no cached copy.

    Example
    -------
    >>> fen = load_backbone("parcel-primitives", input_shape=(48, 48, 1))
    >>> fen.output_shape
    (None, 1280)
    """
    input_shape = _check_input_shape(input_shape)
    if weights is None:
        model = build_backbone(input_shape, name=name)
    elif isinstance(weights, str) and weights == "imagenet":
        path = _imagenet_weights(input_shape, ALPHA, cache_dir)
        model = build_backbone(input_shape, channels=3, name=name)
        # the MobileNetV2 part of the model is the applications model itself
        import keras
        ref = keras.applications.MobileNetV2(input_shape=(input_shape[0], input_shape[1], 3), alpha=ALPHA,
                                             include_top=False, weights=path, pooling="avg")
        for layer in ref.layers:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())
    else:
        if isinstance(weights, str) and weights in BUNDLED:
            path = BUNDLED[weights]
            if not path.exists():
                raise FileNotFoundError(
                    f"The bundled weights file {path} is missing from the installation; rebuild it with "
                    f"`python -m parcel_utils.backbone --train`.")
        elif isinstance(weights, (str, os.PathLike)) and Path(weights).suffix == ".h5":
            path = Path(weights)
            if not path.exists():
                raise FileNotFoundError(f"`weights` names the file {path}, which does not exist.")
        else:
            raise ValueError(
                f"`weights` should be one of {sorted(BUNDLED) + ['imagenet']}, None, or a path to a "
                f".weights.h5 file, got {weights!r}.")
        model = build_backbone(input_shape, name=name)
        model.load_weights(path)
    model.trainable = bool(trainable)
    return model


# --------------------------------------------------------------------------
# Latent space
# --------------------------------------------------------------------------
def extract_features(fen, X, batch_size=256):
    """Feed depth maps (N, H, W) or (N, H, W, 1) through ``fen``; (N, F) float32."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4:
        raise ValueError(f"`X` should be a batch of depth maps (N, H, W) or (N, H, W, 1), got shape {X.shape}.")
    return np.asarray(fen.predict(X, batch_size=batch_size, verbose=0), dtype=np.float32)


# --------------------------------------------------------------------------
# Pretraining
# --------------------------------------------------------------------------
def pretrain(out=None, n_train=24000, n_val=3000, epochs=8, batch_size=128, seed=0, verbose=1):
    """Pretrain the backbone on :func:`make_primitive_scenes`; save weights and metrics.

    Two heads on the backbone's features, trained together: the kind of the
    largest primitive (12 classes) and the number of primitives (1-3).  A
    fresh training set is generated for every epoch (``seed + 1 + epoch``),
    so the network never sees a map twice; the validation and test sets come
    from separate seeds.  Writes ``<out>`` (the backbone's weights, no heads)
    and ``<out>.json`` (accuracies, timing, machine).

    Parameters
    ----------
    out : path, default the bundled ``parcel-primitives`` file
    n_train, n_val : int
        Maps per training epoch; maps in the validation and in the test set.
    epochs, batch_size : int
    seed : int
    verbose : int
        Keras progress bar (1), one line per epoch (2) or nothing (0).

    Returns
    -------
    dict
        The metrics written beside the weights.
    """
    import keras
    from keras import layers

    out = Path(out) if out is not None else BUNDLED["parcel-primitives"]
    out.parent.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    t0 = time.time()

    def task(n, s):
        X, kind, count = make_primitive_scenes(n, seed=s)
        return X[..., None], {"kind": kind, "count": count}

    Xv, yv = task(n_val, 10_000 + seed)
    Xt, yt = task(n_val, 20_000 + seed)
    fen = build_backbone()
    for layer in fen.layers:   # Keras' MobileNetV2 uses 0.999: too slow for ~1500 steps of training
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9
    inp = keras.Input(fen.input_shape[1:])
    feats = layers.Dropout(0.2)(fen(inp))
    model = keras.Model(inp, {"kind": layers.Dense(len(PRIMITIVES), activation="softmax", name="kind")(feats),
                              "count": layers.Dense(MAX_OBJECTS, activation="softmax", name="count")(feats)})
    steps = epochs * (n_train // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, warmup_target=None)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss={"kind": "sparse_categorical_crossentropy", "count": "sparse_categorical_crossentropy"},
                  metrics={"kind": ["accuracy"], "count": ["accuracy"]})
    history = []
    for epoch in range(epochs):
        X, y = task(n_train, seed + 1 + epoch)
        h = model.fit(X, y, validation_data=(Xv, yv), batch_size=batch_size,
                      epochs=epoch + 1, initial_epoch=epoch, verbose=verbose)
        history.append({k: round(float(v[-1]), 4) for k, v in h.history.items()})
    test = model.evaluate(Xt, yt, batch_size=512, verbose=0, return_dict=True)
    fen.save_weights(out)
    metrics = {
        "source_task": "make_primitive_scenes", "classes": list(PRIMITIVES), "max_objects": MAX_OBJECTS,
        "input_size": INPUT_SIZE, "alpha": ALPHA, "height_scale_mm": HEIGHT_SCALE_MM,
        "n_train_per_epoch": n_train, "epochs": epochs, "batch_size": batch_size, "seed": seed,
        "history": history, "n_test": n_val,
        "test_kind_accuracy": round(float(test["kind_accuracy"]), 4),
        "test_count_accuracy": round(float(test["count_accuracy"]), 4),
        "train_seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.system()}",
        "keras": keras.__version__,
        "weights_bytes": out.stat().st_size,
    }
    Path(str(out) + ".json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m parcel_utils.backbone",
                                description="Pretrain the course backbone on scenes of 3D primitives "
                                            "(make_primitive_scenes).")
    p.add_argument("--train", action="store_true", help="run the pretraining and write the weights")
    p.add_argument("--out", default=None, help="weights file (default: the bundled one)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--n-train", type=int, default=24000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.train:
        p.print_help()
        return 0
    m = pretrain(args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed, verbose=2)
    print(json.dumps({k: m[k] for k in ("test_kind_accuracy", "test_count_accuracy", "train_seconds", "machine")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
