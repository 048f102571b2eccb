"""Augmentation for depth maps: Keras layers, mixup, test-time augmentation.

The lecture's criterion: *augmented versions should preserve the input label*.
On a top view of a conveyor belt, a parcel may lie anywhere and in any
direction, so flips, rotations by any angle and translations preserve the
label; the belt (and "no measurement") reads 0, so whatever enters the frame
is filled with 0, never reflected.  Size and height are class evidence (an
envelope is at most 45 mm thick, a box at least 30 mm), so zoom and the
"contrast" of a depth map, a gain on its heights, stay small.

"Contrast" on depth maps.  ``keras.layers.RandomContrast`` computes
``(x - mean) * f + mean`` per image and clips to ``value_range`` (default
0-255): on heights in mm it would lift the belt (0, "no measurement") to
non-zero values, shift every height by the image mean, and clip tall
parcels at 255 mm.  The photometric change that does occur on a depth
sensor is a calibration gain, heights times ``1 + e``, which keeps 0 at 0:
:class:`RandomHeightScale` does that.

* :func:`augmentation_layers` -- the pipeline (a ``keras.Sequential``), active
  only during training.
* :class:`RandomHeightScale` -- the depth-map "contrast" layer.
* :func:`mix_samples`, :func:`mixup` -- mixup's virtual samples and labels.
* :data:`D4_TRANSFORMS`, :func:`aggregate_posteriors`, :func:`tta_predict` --
  test-time augmentation.

Example
-------
>>> import numpy as np
>>> aug = augmentation_layers(seed=0)
>>> x = np.ones((2, 32, 32, 1), "float32")
>>> bool(np.array_equal(aug(x, training=False), x))
True
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "augmentation_layers", "RandomHeightScale", "AUGMENTATION_LAYER_TYPES",
    "mix_samples", "mixup", "D4_TRANSFORMS", "aggregate_posteriors", "tta_predict",
]

#: Class names of the layers :func:`augmentation_layers` stacks, in order.
AUGMENTATION_LAYER_TYPES = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
                            "RandomHeightScale")


def _keras():
    import keras
    return keras


def _height_scale_class():
    keras = _keras()

    @keras.saving.register_keras_serializable(package="parcel_utils")
    class RandomHeightScale(keras.layers.Layer):
        """Multiply every height by a random gain ``1 + e``, ``e ~ U(-factor, factor)``.

        The depth-map counterpart of ``RandomContrast``: 0 (belt, no
        measurement) stays 0, heights scale around 0 mm.  One gain per image.
        Like Keras' augmentation layers it is active when called directly
        (``layer(x)``, as in the lecture's ``augmentationNet(X_train)``) and
        during ``fit``, and the identity in ``predict``/``evaluate`` or with
        ``training=False``.

        Parameters
        ----------
        factor : float in [0, 1)
        seed : int or None
        """

        def __init__(self, factor=0.1, seed=None, **kwargs):
            super().__init__(**kwargs)
            if not 0 <= float(factor) < 1:
                raise ValueError(f"`factor` should be a float in [0, 1), got {factor!r}.")
            self.factor = float(factor)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.supports_masking = True

        def call(self, inputs, training=True):  # like Keras' augmentation layers
            if not training or self.factor == 0:
                return inputs
            ops = keras.ops
            shape = ops.shape(inputs)
            gain = keras.random.uniform((shape[0], 1, 1, 1), 1 - self.factor, 1 + self.factor,
                                        seed=self.seed_generator)
            return inputs * ops.cast(gain, inputs.dtype)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "factor": self.factor, "seed": self.seed}

    return RandomHeightScale


_CLASS = None


def __getattr__(name):  # lazy: `import parcel_utils.augment` must not import TensorFlow
    global _CLASS
    if name == "RandomHeightScale":
        if _CLASS is None:
            _CLASS = _height_scale_class()
        return _CLASS
    raise AttributeError(f"module 'parcel_utils.augment' has no attribute {name!r}")


def augmentation_layers(rotation=0.5, translation=0.05, zoom=0.1, height_scale=0.1, seed=None,
                        name="augmentation"):
    """The label-preserving augmentation pipeline for depth maps.

    RandomFlip (horizontal and vertical) -> RandomRotation -> RandomTranslation
    -> RandomZoom -> :class:`RandomHeightScale`.  Geometric layers fill with
    0 (the belt reads 0) and use nearest-neighbour interpolation, so every
    output pixel is a measured height or 0, never an invented blend.  Like
    every Keras augmentation layer, the pipeline is the identity at inference.

    Parameters
    ----------
    rotation : float, default 0.5
        Fraction of a full turn: 0.5 is any angle in [-180, 180] degrees
        (parcels lie in any direction).
    translation : float, default 0.05
        Fraction of the image side (items are placed inside the frame; a
        larger shift would push part of one out and, for a "multiple", could
        hide the second item: not label-preserving).
    zoom : float, default 0.1
        Fraction (size is class evidence: keep it small).
    height_scale : float, default 0.1
        Gain on heights, ``1 +- height_scale`` (absolute heights are class
        evidence: keep it small).
    seed : int or None
        Seeds every layer (each gets ``seed + i``).
    name : str

    Returns
    -------
    keras.Sequential
        Put it right after the ``Input`` of a model.

    Example
    -------
    >>> aug = augmentation_layers(seed=1)
    >>> [type(l).__name__ for l in aug.layers] == list(AUGMENTATION_LAYER_TYPES)
    True
    """
    keras = _keras()
    L = keras.layers
    for value, argname in ((rotation, "rotation"), (translation, "translation"), (zoom, "zoom"),
                           (height_scale, "height_scale")):
        if not 0 <= value < 1:
            raise ValueError(f"`{argname}` should be a fraction in [0, 1), got {value!r}.")
    s = (lambda i: None) if seed is None else (lambda i: int(seed) + i)
    geo = dict(fill_mode="constant", fill_value=0.0, interpolation="nearest")
    return keras.Sequential([
        L.RandomFlip("horizontal_and_vertical", seed=s(0), name="flip"),
        L.RandomRotation(rotation, seed=s(1), name="rotation", **geo),
        L.RandomTranslation(translation, translation, seed=s(2), name="translation", **geo),
        L.RandomZoom(zoom, zoom, seed=s(3), name="zoom", **geo),
        __getattr__("RandomHeightScale")(height_scale, seed=s(4), name="height_scale"),
    ], name=name)


# --------------------------------------------------------------------------
# mixup
# --------------------------------------------------------------------------
def _check_xy(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"`y` should be one-hot labels of shape (N, C) (use keras.utils.to_categorical), "
                         f"got shape {y.shape}.")
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` should have the same number of samples, got {len(x)} and {len(y)}.")
    return x, y


def mix_samples(x, y, lam, perm):
    """Mixup's virtual samples and labels for given weights and partners.

    ``x_mix[i] = lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]`` and the same for
    ``y`` (one-hot): the lecture's ``I~ = lam I_i + (1 - lam) I_j``,
    ``y~ = lam y_i + (1 - lam) y_j``.

    Parameters
    ----------
    x : array (N, ...)
    y : array (N, C), one-hot (or any probability vectors)
    lam : array (N,) in [0, 1]
    perm : array (N,) of int, indices in [0, N)

    Returns
    -------
    x_mix : ndarray, like ``x`` (float32 if ``x`` is)
    y_mix : ndarray (N, C)

    Example
    -------
    >>> x = np.array([[0.0], [10.0]]); y = np.eye(2)
    >>> xm, ym = mix_samples(x, y, np.array([0.75, 1.0]), np.array([1, 0]))
    >>> xm.ravel().tolist(), ym.tolist()
    ([2.5, 10.0], [[0.75, 0.25], [0.0, 1.0]])
    """
    x, y = _check_xy(x, y)
    lam = np.asarray(lam, dtype=np.float64)
    perm = np.asarray(perm)
    if lam.shape != (len(x),) or np.any(lam < 0) or np.any(lam > 1):
        raise ValueError(f"`lam` should hold one weight in [0, 1] per sample, shape ({len(x)},), got shape {lam.shape}.")
    if perm.shape != (len(x),) or not np.issubdtype(perm.dtype, np.integer) or np.any(perm < 0) or np.any(perm >= len(x)):
        raise ValueError(f"`perm` should hold one partner index in [0, {len(x)}) per sample, got {perm!r}.")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    x_mix = (lx * x + (1 - lx) * x[perm]).astype(dtype)
    ydtype = y.dtype if np.issubdtype(y.dtype, np.floating) else np.float64
    y_mix = (lam[:, None] * y + (1 - lam[:, None]) * y[perm]).astype(ydtype)
    return x_mix, y_mix


def mixup(x, y, alpha=0.2, seed=None):
    """A mixup batch: random partners and ``lam ~ Beta(alpha, alpha)``.

    Draws, in this order, ``lam = rng.beta(alpha, alpha, size=N)`` and
    ``perm = rng.permutation(N)`` with ``rng = numpy.random.default_rng(seed)``,
    then returns :func:`mix_samples` ``(x, y, lam, perm)``.

    Parameters
    ----------
    x : array (N, ...)
    y : array (N, C), one-hot
    alpha : float > 0, default 0.2
        Small alpha puts lam near 0 or 1 (mild mixing), alpha = 1 is uniform.
    seed : int or None

    Returns
    -------
    x_mix, y_mix : as :func:`mix_samples`

    Example
    -------
    >>> xm, ym = mixup(np.zeros((4, 8, 8, 1)), np.eye(4), alpha=0.4, seed=0)
    >>> xm.shape, np.allclose(ym.sum(axis=1), 1)
    ((4, 8, 8, 1), True)
    """
    x, y = _check_xy(x, y)
    if not alpha > 0:
        raise ValueError(f"`alpha` should be a positive float, got {alpha!r}.")
    rng = np.random.default_rng(seed)
    lam = rng.beta(alpha, alpha, size=len(x))
    perm = rng.permutation(len(x))
    return mix_samples(x, y, lam, perm)


# --------------------------------------------------------------------------
# Test-time augmentation
# --------------------------------------------------------------------------
def _identity(x):
    return x


def _fliplr(x):
    return x[:, :, ::-1]


def _flipud(x):
    return x[:, ::-1]


def _rot90(x):
    return np.rot90(x, 1, axes=(1, 2))


def _rot180(x):
    return np.rot90(x, 2, axes=(1, 2))


def _rot270(x):
    return np.rot90(x, 3, axes=(1, 2))


def _transpose(x):
    return np.swapaxes(x, 1, 2)


def _antitranspose(x):
    return np.rot90(np.swapaxes(x, 1, 2), 2, axes=(1, 2))


#: The 8 symmetries of the square (rotations by 90 degrees and flips): exact,
#: label-preserving transforms of a batch (N, H, W[, C]), no interpolation.
D4_TRANSFORMS = (_identity, _fliplr, _flipud, _rot90, _rot180, _rot270, _transpose, _antitranspose)

_AGG = {"mean": lambda P: P.mean(axis=0), "median": lambda P: np.median(P, axis=0),
        "max": lambda P: P.max(axis=0)}


def aggregate_posteriors(P, aggregate="mean"):
    """Aggregate TTA posteriors ``P`` of shape (T, N, C) into (N, C).

    ``"mean"`` is the lecture's ``p = Avg({p_l})``: it stays a probability
    vector.  ``"median"`` and ``"max"`` are there to compare with; their
    rows do not sum to 1 in general.

    Example
    -------
    >>> P = np.array([[[0.9, 0.1]], [[0.3, 0.7]]])
    >>> np.round(aggregate_posteriors(P), 6).tolist()
    [[0.6, 0.4]]
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 3:
        raise ValueError(f"`P` should be posteriors of shape (T, N, C), got shape {P.shape}.")
    if callable(aggregate):
        return np.asarray(aggregate(P))
    if aggregate not in _AGG:
        raise ValueError(f"`aggregate` should be one of {sorted(_AGG)} or a callable, got {aggregate!r}.")
    return _AGG[aggregate](P)


def tta_predict(model, x, transforms=D4_TRANSFORMS, aggregate="mean", batch_size=256):
    """Test-time augmentation: classify every transformed copy, aggregate the posteriors.

    ``p_l = model(A_l(x))`` for each transform ``A_l``, then
    :func:`aggregate_posteriors` of the stack (T, N, C).

    Parameters
    ----------
    model : keras.Model or callable
        Maps a batch to posteriors (N, C); a Keras model is called through
        ``predict(..., verbose=0)``.
    x : array (N, H, W, C)
    transforms : sequence of callables
        Each maps a batch to a batch of the same shape (default the 8
        symmetries of the square).
    aggregate : {"mean", "median", "max"} or callable
    batch_size : int

    Returns
    -------
    ndarray (N, C)

    Example
    -------
    >>> f = lambda b: np.stack([b[:, 0, 0, 0], 1 - b[:, 0, 0, 0]], axis=1)   # reads a corner
    >>> x = np.zeros((1, 2, 2, 1)); x[0, 0, 0, 0] = 1.0
    >>> tta_predict(f, x, transforms=D4_TRANSFORMS[:2]).tolist()
    [[0.5, 0.5]]
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"`x` should be a batch (N, H, W, C), got shape {x.shape}.")
    if len(transforms) == 0:
        raise ValueError("`transforms` should hold at least one transform (e.g. D4_TRANSFORMS).")
    predict = (lambda b: model.predict(b, batch_size=batch_size, verbose=0)) if hasattr(model, "predict") else model
    P = np.stack([np.asarray(predict(np.ascontiguousarray(t(x)))) for t in transforms])
    return aggregate_posteriors(P, aggregate)
