"""Reference answers of 04_cnn: the augmentation pipeline, mixup, test-time augmentation, 1-NN retrieval.

Instructor side only: the student package keeps what the notebook *gives*
(:class:`parcel_utils.augment.RandomHeightScale`,
:data:`parcel_utils.augment.D4_TRANSFORMS`,
:data:`parcel_utils.augment.AUGMENTATION_LAYER_TYPES`, the backbone and
:func:`parcel_utils.backbone.extract_features`); what an exercise asks the
student to write lives here, for the registry (``checks.py`` beside this file)
and the tests.

* :func:`augmentation_layers` -- exercise 1's label-preserving pipeline (a
  ``keras.Sequential``), active only during training.
* :func:`mix_samples`, :func:`mixup` -- exercise 7: mixup's virtual samples and labels.
* :func:`aggregate_posteriors`, :func:`tta_predict` -- exercise 6: test-time augmentation.
* :func:`nearest_neighbours_l1` -- exercise 8: 1-NN in the latent space, l1 distance.

The augmentation's criterion is the lecture's: *augmented versions should
preserve the input label*, and on a depth map that means maps the sensor
could have produced (``DATASET.md``, "Sensor model"): occlusion shadows fall
on the +x side of every step, so an up-down flip keeps them where the sensor
puts them and a left-right flip or a rotation does not (the items already
lie in every orientation).  Translations preserve the label; the belt (and
"no measurement") reads 0, so whatever enters the frame is filled with 0,
never reflected.  Size and height are class evidence, so zoom and the height
gain stay small.

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

from parcel_utils.augment import AUGMENTATION_LAYER_TYPES, D4_TRANSFORMS, RandomHeightScale

__all__ = ["augmentation_layers", "mix_samples", "mixup", "aggregate_posteriors", "tta_predict",
           "nearest_neighbours_l1", "AUGMENTATION_LAYER_TYPES", "D4_TRANSFORMS"]


def _check_int(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` should be an integer >= {low}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------
# Exercise 1: augmentation
# --------------------------------------------------------------------------
def augmentation_layers(translation=0.05, zoom=0.1, height_scale=0.1, seed=None, name="augmentation"):
    """The label-preserving augmentation pipeline for depth maps, from the sensor model.

    RandomFlip("vertical") (up-down: the shadows stay on +x) -> RandomTranslation
    -> RandomZoom -> :class:`~parcel_utils.augment.RandomHeightScale`; no
    left-right flip and no rotation (they move the sensor's shadows off +x).
    Geometric layers fill with 0 (the belt reads 0) and use nearest-neighbour
    interpolation, so every output pixel is a measured height or 0, never an
    invented blend.  Like every Keras augmentation layer, the pipeline is the
    identity at inference.

    Parameters
    ----------
    translation : float, default 0.05
        Fraction of the image side.
    zoom : float, default 0.1
        Fraction (size is class evidence: keep it small).
    height_scale : float, default 0.1
        Gain on heights, ``1 +- height_scale``.
    seed : int or None
        Seeds every layer (each gets ``seed + i``).
    name : str

    Returns
    -------
    keras.Sequential

    Example
    -------
    >>> aug = augmentation_layers(seed=1)
    >>> [type(l).__name__ for l in aug.layers] == list(AUGMENTATION_LAYER_TYPES), aug.layers[0].mode
    (True, 'vertical')
    """
    import keras   # Keras/TensorFlow: seconds to import

    L = keras.layers
    for value, argname in ((translation, "translation"), (zoom, "zoom"), (height_scale, "height_scale")):
        if not 0 <= value < 1:
            raise ValueError(f"`{argname}` should be a fraction in [0, 1), got {value!r}.")
    s = (lambda i: None) if seed is None else (lambda i: int(seed) + i)
    geo = dict(fill_mode="constant", fill_value=0.0, interpolation="nearest")
    return keras.Sequential([
        L.RandomFlip("vertical", seed=s(0), name="flip"),
        L.RandomTranslation(translation, translation, seed=s(1), name="translation", **geo),
        L.RandomZoom(zoom, zoom, seed=s(2), name="zoom", **geo),
        RandomHeightScale(height_scale, seed=s(3), name="height_scale"),
    ], name=name)


# --------------------------------------------------------------------------
# Exercise 7: mixup
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
# Exercise 6: test-time augmentation
# --------------------------------------------------------------------------
_AGG = {"mean": lambda P: P.mean(axis=0), "median": lambda P: np.median(P, axis=0),
        "max": lambda P: P.max(axis=0)}


def aggregate_posteriors(P, aggregate="mean"):
    """Aggregate TTA posteriors ``P`` of shape (T, N, C) into (N, C).

    ``"mean"`` is the lecture's ``p = Avg({p_l})``: it stays a probability
    vector.  ``"median"`` and ``"max"`` are there to compare with.

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
        Maps a batch to posteriors (N, C); anything with ``predict`` is
        called through ``predict(..., verbose=0)``.
    x : array (N, H, W, C)
    transforms : sequence of callables
        Default the 8 symmetries of the square (the notebook passes
        :data:`parcel_utils.augment.SENSOR_TRANSFORMS`, the two the sensor can produce).
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


# --------------------------------------------------------------------------
# Exercise 8: the latent space
# --------------------------------------------------------------------------
def nearest_neighbours_l1(train_features, query_features, k=1, max_bytes=2 ** 27):
    """Indices and l1 distances of the k nearest training features of each query.

    The distance is the lecture's ``np.mean(np.abs(features - image_features), axis=-1)``
    (the mean, not the sum, of absolute differences: same ordering), computed
    with ``scipy.spatial.distance.cdist(..., "cityblock") / F`` in blocks of
    queries, so that memory stays at about ``max_bytes``.

    Parameters
    ----------
    train_features : array (N, F)
    query_features : array (M, F)
    k : int, default 1
    max_bytes : int
        Memory budget of one block of distances.

    Returns
    -------
    idx : ndarray (M, k) int
        Row indices into ``train_features``, nearest first (ties: lower index).
    dist : ndarray (M, k) float

    Example
    -------
    >>> idx, d = nearest_neighbours_l1(np.array([[0., 0.], [1., 1.]]), np.array([[0.9, 1.0]]))
    >>> idx.tolist(), np.round(d, 3).tolist()
    ([[1]], [[0.05]])
    """
    from scipy.spatial.distance import cdist   # SciPy: heavy

    A = np.asarray(train_features, dtype=np.float64)
    Q = np.asarray(query_features, dtype=np.float64)
    if A.ndim != 2 or Q.ndim != 2 or A.shape[1] != Q.shape[1]:
        raise ValueError(f"`train_features` (N, F) and `query_features` (M, F) should be 2-D with the same F, "
                         f"got {A.shape} and {Q.shape}.")
    k = _check_int(k, "k")
    if k > len(A):
        raise ValueError(f"`k` should be at most the number of training features ({len(A)}), got {k}.")
    idx = np.empty((len(Q), k), dtype=np.int64)
    dist = np.empty((len(Q), k))
    step = max(1, int(max_bytes // (8 * max(len(A), 1))))
    for s in range(0, len(Q), step):
        d = cdist(Q[s:s + step], A, "cityblock") / A.shape[1]
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        idx[s:s + step] = order
        dist[s:s + step] = np.take_along_axis(d, order, axis=1)
    return idx, dist
