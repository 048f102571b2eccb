"""Reference answers of assignment ``01_convolution``: 2D correlation, convolution and the other CNN building blocks.

What the hidden tests of assignment ``01_convolution`` compare student answers
against.  Everything is plain NumPy, vectorised with
:func:`numpy.lib.stride_tricks.sliding_window_view`.

Notation (the lecture's)
------------------------
Correlation ``(I ⊗ w)(r, c) = Σ_{(u,v) ∈ U} w(u, v) I(r + u, c + v)`` and
convolution ``(I ⊛ w)(r, c) = Σ_{(u,v) ∈ U} w(u, v) I(r − u, c − v)``, the
same operation up to a flip of the filter.  What CNN libraries (Keras,
TensorFlow, PyTorch) call convolution is the correlation: no flip.

The filter's origin ``(u, v) = (0, 0)`` is its centre, row ``(kh − 1) // 2``,
column ``(kw − 1) // 2`` (for an even size, the upper-left of the four central
samples): this is the convention of :func:`scipy.signal.correlate2d` and of
Keras/TensorFlow with stride 1.

Padding
-------
``padding`` is one of

``'valid'``
    no padding; the output has ``n − k + 1`` samples per axis.
``'same'``
    zeros, ``k − 1`` in all per axis, ``(k − 1) // 2`` before and ``k // 2``
    after (mirrored for :func:`convolve2d`, which keeps the origin at the
    centre), so that with stride 1 the output has the input's size.
``'full'``
    ``k − 1`` zeros on each side: every position where filter and image
    overlap; ``n + k − 1`` samples.
``'symmetric'``
    as ``'same'``, but the border is filled by reflecting the image about its
    edge *with the edge sample repeated*: ``[a b c]`` padded by 2 becomes
    ``[b a | a b c | c b]``.  This is :func:`numpy.pad` mode ``'symmetric'``
    and :func:`scipy.signal.correlate2d` ``boundary='symm'`` (not NumPy's
    ``'reflect'``, which would give ``[c b | a b c | b a]``).
an int ``p >= 0``
    ``p`` zeros on each side (the ``p`` of the output-size formula).

Stride
------
A stride ``s`` keeps every ``s``-th output of the stride-1 result, starting
with the first: ``out = full_stride_1_output[::s, ::s]``, i.e. the filter is
applied at rows ``0, s, 2s, ...`` of the padded image.  The output has
``floor((n + p_before + p_after − k) / s) + 1`` samples per axis
(:func:`output_size`).  With ``'valid'`` this is what Keras and TensorFlow do;
with ``'same'`` and ``s > 1`` TensorFlow pads ``max((ceil(n/s) − 1)·s + k − n, 0)``
zeros in all, fewer before than after, so the same number of outputs can be
shifted by one sample (a difference Keras documents as backend dependent).

Shapes
------
Images are ``(H, W)``; multi-channel inputs are channels last, ``(H, W, C)``
or a batch ``(N, H, W, C)``; the weights of a convolutional layer are
``(kh, kw, C, F)`` and its biases ``(F,)``, the layout of
``keras.layers.Conv2D``.

Example
-------
>>> import numpy as np
>>> from parcel_course.assignments import load
>>> correlate2d, convolve2d, output_size = (getattr(load('01_convolution', 'reference'), f)
...                                        for f in ('correlate2d', 'convolve2d', 'output_size'))
>>> image = np.arange(16.0).reshape(4, 4)
>>> shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])   # picks I(r, c + 1)
>>> correlate2d(image, shift)
array([[ 6.,  7.],
       [10., 11.]])
>>> convolve2d(image, shift)                               # picks I(r, c - 1)
array([[4., 5.],
       [8., 9.]])
>>> output_size(224, 3, padding="same", stride=2)
112
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "PADDINGS", "padding_widths", "pad_image", "correlate2d", "convolve2d", "conv2d",
    "output_size", "receptive_field", "conv_parameters", "stack_parameters",
    "relu", "leaky_relu", "tanh", "sigmoid", "max_pool2d",
]

PADDINGS = ("valid", "same", "full", "symmetric")


# --------------------------------------------------------------------------- validation
def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= minimum``, as a pair."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2
            or not all(isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)
                       for v in value)):
        raise ValueError(f"`{name}` should be an int or a pair of ints, got {value!r}.")
    if min(value) < minimum:
        raise ValueError(f"`{name}` should be at least {minimum}, got {tuple(int(v) for v in value)}.")
    return int(value[0]), int(value[1])


def _int(value, name: str, minimum: int) -> int:
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool):
        raise ValueError(f"`{name}` should be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` should be at least {minimum}, got {int(value)}.")
    return int(value)


def _check_padding(padding):
    if isinstance(padding, str):
        if padding.lower() not in PADDINGS:
            raise ValueError(f"`padding` should be one of {PADDINGS} or an int >= 0, got {padding!r}.")
        return padding.lower()
    if isinstance(padding, (numbers.Integral, np.integer)) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"`padding` should be one of {PADDINGS} or an int >= 0, got {padding}.")
        return int(padding)
    raise ValueError(f"`padding` should be one of {PADDINGS} or an int >= 0, got {padding!r}.")


def _array(value, name: str, ndims: Sequence[int], what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"`{name}` should be an array of numbers, got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"`{name}` should hold real numbers, got dtype {arr.dtype}.")
    if arr.ndim not in ndims:
        raise ValueError(f"`{name}` should be {what}, got an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}); give it at least one sample.")
    return arr


def _float(*arrays) -> np.dtype:
    """The floating dtype of the result: float32 stays float32, integers give float64."""
    return np.result_type(*(a.dtype for a in arrays), np.float32)


# --------------------------------------------------------------------------- padding
def padding_widths(kernel_size, padding="valid", flip=False):
    """Zeros (or reflected samples) added before and after each spatial axis.

    Parameters
    ----------
    kernel_size : int or (int, int)
        ``k`` or ``(kh, kw)``.
    padding : {'valid', 'same', 'full', 'symmetric'} or int
        See the module docstring.
    flip : bool
        True for a convolution: with an even kernel, ``'same'`` then puts the
        extra sample before instead of after (the origin stays the centre of
        the flipped filter).

    Returns
    -------
    ((top, bottom), (left, right)) : tuple of tuples of int

    Examples
    --------
    >>> padding_widths(3, "same")
    ((1, 1), (1, 1))
    >>> padding_widths((4, 5), "full")
    ((3, 3), (4, 4))
    >>> padding_widths(4, "same"), padding_widths(4, "same", flip=True)
    (((1, 2), (1, 2)), ((2, 1), (2, 1)))
    """
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    padding = _check_padding(padding)
    widths = []
    for k in (kh, kw):
        if padding == "valid":
            w = (0, 0)
        elif padding == "full":
            w = (k - 1, k - 1)
        elif padding in ("same", "symmetric"):
            w = ((k - 1) // 2, k // 2)
            if flip:
                w = w[::-1]
        else:
            w = (padding, padding)
        widths.append(w)
    return tuple(widths)


def _spatial_axes(ndim: int) -> tuple[int, int]:
    return (1, 2) if ndim == 4 else (0, 1)


def pad_image(image, kernel_size, padding="valid", flip=False):
    """Pad an image (or a channels-last volume) for a ``kernel_size`` filter.

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, C) or (N, H, W, C)
        Only the spatial axes H and W are padded.
    kernel_size : int or (int, int)
    padding : {'valid', 'same', 'full', 'symmetric'} or int
        ``'symmetric'`` reflects with the edge sample repeated
        (:func:`numpy.pad` mode ``'symmetric'``); the others pad zeros.
    flip : bool
        See :func:`padding_widths`.

    Returns
    -------
    numpy.ndarray
        The padded array, same dtype as ``image``.

    Examples
    --------
    >>> pad_image([[1, 2, 3]], (1, 3), "same")
    array([[0, 1, 2, 3, 0]])
    >>> pad_image([[1, 2, 3]], (1, 5), "symmetric")
    array([[2, 1, 1, 2, 3, 3, 2]])
    """
    image = _array(image, "image", (2, 3, 4), "an array of shape (H, W), (H, W, C) or (N, H, W, C)")
    padding = _check_padding(padding)
    (t, b), (l, r) = padding_widths(kernel_size, padding, flip)
    widths = [(0, 0)] * image.ndim
    ar, ac = _spatial_axes(image.ndim)
    widths[ar], widths[ac] = (t, b), (l, r)
    mode = "symmetric" if padding == "symmetric" else "constant"
    return np.pad(image, widths, mode=mode)


# --------------------------------------------------------------------------- correlation
def _windows(padded, kh, kw, sr, sc, axes, what):
    """Strided windows of the padded input; a clear error when the filter does not fit."""
    H, W = padded.shape[axes[0]], padded.shape[axes[1]]
    if kh > H or kw > W:
        raise ValueError(
            f"The {kh}x{kw} filter is larger than the {what} ({H}x{W} after padding), so there "
            "is no position where it fits; use a smaller filter or padding 'same' or 'full'.")
    win = sliding_window_view(padded, (kh, kw), axis=axes)
    index = [slice(None)] * win.ndim
    index[axes[0]], index[axes[1]] = slice(None, None, sr), slice(None, None, sc)
    return win[tuple(index)]


def correlate2d(image, kernel, padding="valid", stride=1):
    """2D correlation ``(I ⊗ w)(r, c) = Σ w(u, v) I(r + u, c + v)``: what CNNs compute.

    Parameters
    ----------
    image : array_like, shape (H, W)
    kernel : array_like, shape (kh, kw)
    padding : {'valid', 'same', 'full', 'symmetric'} or int, default 'valid'
        See the module docstring.
    stride : int or (int, int), default 1
        Keep every ``stride``-th output, starting with the first.

    Returns
    -------
    numpy.ndarray, shape (output_size(H, kh, padding, sr), output_size(W, kw, padding, sc))
        Floating point (float32 inputs stay float32).

    Examples
    --------
    >>> import numpy as np
    >>> correlate2d(np.arange(16.0).reshape(4, 4), np.ones((2, 2)), stride=2)
    array([[10., 18.],
           [42., 50.]])
    >>> correlate2d(np.ones((3, 3)), np.ones((3, 3)), padding="same")
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]])
    """
    image = _array(image, "image", (2,), "a 2-D array (H, W); for several channels use conv2d")
    kernel = _array(kernel, "kernel", (2,), "a 2-D array (kh, kw)")
    return _correlate(image, kernel, padding, stride, flip=False)


def convolve2d(image, kernel, padding="valid", stride=1):
    """2D convolution ``(I ⊛ w)(r, c) = Σ w(u, v) I(r − u, c − v)``: correlation with the flipped filter.

    Same arguments and output shape as :func:`correlate2d`.  With ``'same'``
    or ``'symmetric'`` and an even filter size, the padding is mirrored too
    (the origin stays the centre), which is what :func:`scipy.signal.convolve2d`
    does.

    Examples
    --------
    >>> import numpy as np
    >>> convolve2d(np.eye(3), [[1, 2], [3, 4]])
    array([[5., 2.],
           [3., 5.]])
    """
    image = _array(image, "image", (2,), "a 2-D array (H, W); for several channels use conv2d")
    kernel = _array(kernel, "kernel", (2,), "a 2-D array (kh, kw)")
    return _correlate(image, kernel[::-1, ::-1], padding, stride, flip=True)


def _correlate(image, kernel, padding, stride, flip):
    sr, sc = _pair(stride, "stride", 1)
    kh, kw = kernel.shape
    dtype = _float(image, kernel)
    padded = pad_image(image.astype(dtype, copy=False), (kh, kw), padding, flip=flip)
    win = _windows(padded, kh, kw, sr, sc, (0, 1), "image")
    return np.einsum("ijuv,uv->ij", win, kernel.astype(dtype, copy=False), optimize=True)


def conv2d(x, weights, biases=None, padding="valid", stride=1):
    """A convolutional layer: ``a(r, c, f) = Σ_{(u,v) ∈ U, k} w^f(u, v, k) x(r + u, c + v, k) + b^f``.

    Every filter spans all the input channels; each of the ``F`` filters gives
    one output channel and has one bias.  No flip (the CNN convention), no
    activation.

    Parameters
    ----------
    x : array_like, shape (H, W, C) or (N, H, W, C)
        Channels last.
    weights : array_like, shape (kh, kw, C, F)
        The Keras ``Conv2D`` kernel layout.
    biases : array_like, shape (F,), optional
        One per filter; None means zeros.
    padding : {'valid', 'same', 'full', 'symmetric'} or int, default 'valid'
    stride : int or (int, int), default 1

    Returns
    -------
    numpy.ndarray, shape (H', W', F) or (N, H', W', F)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)   # 3x3, 2 channels
    >>> w = np.ones((3, 3, 2, 1))                                        # one 3x3x2 filter
    >>> conv2d(x, w, biases=[0.5])[..., 0]
    array([[27.5]])
    """
    x = _array(x, "x", (3, 4), "an array of shape (H, W, C) or (N, H, W, C), channels last")
    weights = _array(weights, "weights", (4,), "an array of shape (kh, kw, C, F), the Keras Conv2D layout")
    kh, kw, C, F = weights.shape
    if x.shape[-1] != C:
        raise ValueError(
            f"`weights` has {C} input channel(s) (axis 2 of {weights.shape}) but `x` has "
            f"{x.shape[-1]} (its last axis); filters need as many channels as the input.")
    if biases is None:
        biases = np.zeros(F)
    biases = _array(biases, "biases", (1,), f"a 1-D array with one bias per filter, shape ({F},)")
    if biases.shape != (F,):
        raise ValueError(f"`biases` should have one value per filter, shape ({F},), got shape {biases.shape}.")
    sr, sc = _pair(stride, "stride", 1)
    dtype = _float(x, weights)      # biases follow: float32 inputs give a float32 output, as in Keras
    batch = x.ndim == 4
    xb = x if batch else x[None]
    padded = pad_image(xb.astype(dtype, copy=False), (kh, kw), padding)
    win = _windows(padded, kh, kw, sr, sc, (1, 2), "input")           # (N, H', W', C, kh, kw)
    out = np.tensordot(win, weights.astype(dtype, copy=False).transpose(2, 0, 1, 3), axes=3)
    out += biases.astype(dtype, copy=False)
    return out if batch else out[0]


# --------------------------------------------------------------------------- sizes and counts
def output_size(n, kernel_size, padding="valid", stride=1):
    """Number of outputs along one axis: ``floor((n + p_before + p_after − k) / s) + 1``.

    With ``p`` zeros on each side that is the familiar ``(n + 2p − k) // s + 1``;
    ``'valid'`` is ``p = 0``, ``'full'`` is ``p = k − 1``, ``'same'`` and
    ``'symmetric'`` add ``k − 1`` in all, which gives ``ceil(n / s)``.

    Parameters
    ----------
    n : int
        Input size along the axis (>= 1).
    kernel_size : int
        Filter (or pooling window) size ``k`` (>= 1).
    padding : {'valid', 'same', 'full', 'symmetric'} or int, default 'valid'
    stride : int, default 1

    Returns
    -------
    int

    Examples
    --------
    >>> output_size(32, 5)                       # LeNet-5, first layer
    28
    >>> output_size(227, 11, "valid", stride=4)  # AlexNet, first layer
    55
    >>> output_size(224, 3, "same")              # VGG16
    224
    """
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    (before, after), _ = padding_widths(k, padding)
    span = n + before + after - k
    if span < 0:
        raise ValueError(
            f"The filter (k={k}) is larger than the input (n={n}) padded with {padding!r} "
            f"({n + before + after} samples); use a smaller filter or more padding.")
    return span // s + 1


def receptive_field(n_layers, kernel_size=3, stride=1):
    """Side of the input region one output of ``n_layers`` stacked convolutions sees.

    ``r = 1 + Σ_l (k_l − 1) · Π_{j<l} s_j``; for ``L`` layers of ``k x k``
    filters with stride 1 that is ``1 + L (k − 1)``: three 3x3 layers see 7x7,
    like one 7x7 layer.

    Parameters
    ----------
    n_layers : int
        ``L >= 0`` (0 layers see one pixel).
    kernel_size : int or sequence of int
        One size for every layer, or one per layer.
    stride : int or sequence of int
        One stride for every layer, or one per layer.

    Returns
    -------
    int

    Examples
    --------
    >>> receptive_field(3, 3)
    7
    >>> receptive_field(2, [3, 3], stride=[2, 1])   # a stride-2 layer doubles what follows
    7
    """
    L = _int(n_layers, "n_layers", 0)
    ks = _per_layer(kernel_size, L, "kernel_size")
    ss = _per_layer(stride, L, "stride")
    r, jump = 1, 1
    for k, s in zip(ks, ss):
        r += (k - 1) * jump
        jump *= s
    return r


def _per_layer(value, L, name):
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return [_int(value, name, 1)] * L
    try:
        values = list(value)
    except TypeError:
        raise ValueError(f"`{name}` should be an int or a sequence of {L} ints, got {value!r}.") from None
    if len(values) != L:
        raise ValueError(f"`{name}` should have one value per layer ({L}), got {len(values)}.")
    return [_int(v, name, 1) for v in values]


def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    """Trainable parameters of one convolutional layer: ``(kh · kw · d) · n_f + n_f``.

    Parameters
    ----------
    kernel_size : int or (int, int)
    in_channels : int
        ``d``, the depth of the input volume.
    filters : int
        ``n_f``, the number of filters (output channels).
    use_bias : bool, default True
        One bias per filter.

    Returns
    -------
    int

    Examples
    --------
    >>> conv_parameters(5, 3, 2)     # the lecture's 3 input maps, 2 filters 5x5
    152
    >>> conv_parameters(3, 3, 64)    # VGG16 block1_conv1
    1792
    """
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    d = _int(in_channels, "in_channels", 1)
    nf = _int(filters, "filters", 1)
    return kh * kw * d * nf + (nf if use_bias else 0)


def stack_parameters(n_layers, kernel_size, channels, use_bias=True):
    """Parameters of ``n_layers`` stacked ``k x k`` layers, each with ``d`` input and ``d`` output channels.

    ``n_layers · (k · k · d · d + d)``; without biases three 3x3 layers have
    ``27 d²`` weights against ``49 d²`` for one 7x7 layer (the slide's 27
    and 49 are ``d = 1``).

    Examples
    --------
    >>> stack_parameters(3, 3, 1, use_bias=False), stack_parameters(1, 7, 1, use_bias=False)
    (27, 49)
    >>> stack_parameters(3, 3, 64), stack_parameters(1, 7, 64)
    (110784, 200768)
    """
    L = _int(n_layers, "n_layers", 0)
    d = _int(channels, "channels", 1)
    return L * conv_parameters(kernel_size, d, d, use_bias)


# --------------------------------------------------------------------------- activations, pooling
def _values(x, name="x"):
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"`{name}` should be a real number or an array of real numbers, got dtype {arr.dtype}.")
    return arr.astype(np.result_type(arr.dtype, np.float32), copy=False)


def relu(x):
    """ReLU ``max(0, x)``, element-wise.

    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    """
    x = _values(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def leaky_relu(x, alpha=0.01):
    """Leaky ReLU: ``x`` for ``x >= 0``, ``alpha · x`` below (the lecture's ``alpha = 0.01``).

    Keras' ``LeakyReLU`` defaults to ``negative_slope=0.3``; pass ``alpha`` to match it.

    >>> leaky_relu([-2.0, 3.0])
    array([-0.02,  3.  ])
    """
    x = _values(x)
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not np.isfinite(alpha):
        raise ValueError(f"`alpha` should be a finite number (the slope below 0), got {alpha!r}.")
    return np.where(x >= 0, x, alpha * x).astype(x.dtype, copy=False)


def tanh(x):
    """Hyperbolic tangent ``2 / (1 + e^{−2x}) − 1``, range (−1, 1).

    >>> round(float(tanh(0.5)), 6)
    0.462117
    """
    return np.tanh(_values(x))


def sigmoid(x):
    """The standard logistic function ``σ(x) = 1 / (1 + e^{−x})``, range (0, 1).

    The lecture writes ``S(x) = 1 / (1 + e^{−2x})``, which is ``σ(2x)``, not
    the standard sigmoid (Keras' ``sigmoid`` is ``σ``).  With ``σ``,
    ``tanh(x) = 2 σ(2x) − 1``.  Computed without overflow for large ``|x|``.

    >>> sigmoid([0.0, 2.0])
    array([0.5       , 0.88079708])
    """
    x = _values(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def max_pool2d(x, pool_size=2, stride=None):
    """Max pooling over ``pool_size`` windows, each channel separately (no padding, as Keras' default).

    Parameters
    ----------
    x : array_like, shape (H, W), (H, W, C) or (N, H, W, C)
        Channels last.
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size`` (non-overlapping windows, as in Keras);
        ``stride=1`` pools around every pixel.

    Returns
    -------
    numpy.ndarray
        Spatial size ``output_size(n, pool_size, 'valid', stride)`` per axis,
        other axes unchanged, dtype of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> max_pool2d(np.arange(16).reshape(4, 4))
    array([[ 5,  7],
           [13, 15]])
    >>> max_pool2d(np.arange(16).reshape(4, 4), pool_size=3, stride=1)
    array([[10, 11],
           [14, 15]])
    """
    x = _array(x, "x", (2, 3, 4), "an array of shape (H, W), (H, W, C) or (N, H, W, C)")
    ph, pw = _pair(pool_size, "pool_size", 1)
    sr, sc = _pair((ph, pw) if stride is None else stride, "stride", 1)
    axes = _spatial_axes(x.ndim)
    H, W = x.shape[axes[0]], x.shape[axes[1]]
    if ph > H or pw > W:
        raise ValueError(f"The {ph}x{pw} pooling window is larger than the {H}x{W} input; use a smaller `pool_size`.")
    win = _windows(x, ph, pw, sr, sc, axes, "input")
    return win.max(axis=(-2, -1))
