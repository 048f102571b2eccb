"""Inputs of the attested hidden tests (see :func:`parcel_utils.checks.attest`).

Each generator takes a ``seed`` (and literal keyword parameters) and returns
the cases of one hidden test, ``[(args, kwargs, label), ...]``: the student's
function and the reference are both called as ``f(*args, **kwargs)``.  The
grader calls the same generator with the same seed in its own process, so a
generator must be deterministic (NumPy's ``default_rng(seed)`` only) and
cheap.  The cases are those the hidden tests of 01_convolution drew before
they were attested, with the same seeds.

Example
-------
>>> cases = correlate2d_cases(1101, paddings=("valid",))
>>> args, kwargs, label = cases[0]
>>> len(cases), args[2], label.startswith("a ")
(12, 'valid', True)
"""
from __future__ import annotations

import numpy as np

__all__ = ["correlate2d_cases", "stride_cases", "convolve2d_cases", "output_size_cases", "conv_layer_cases",
           "conv_parameters_cases", "receptive_field_cases", "random_volume", "max_pool_cases"]


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed should be an int, got {seed!r}.")
    return np.random.default_rng(int(seed))


def correlate2d_cases(seed, n=12, sizes=(5, 24), paddings=("valid",)):
    """Random images (H, W) and kernels (kh, kw) of 1 to 6, one case per padding."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(*sizes, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 7, size=2))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
        for p in paddings:
            cases.append(((x, w, p), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, {p!r}"))
    return cases


def stride_cases(seed, n=12):
    """Square kernels of 1 to 5, strides 2 to 4, the four paddings."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(6, 30, size=2))
        k, s = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(k, k))
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, p), {"stride": s}, f"a {H}x{W} image, {k}x{k} kernel, {p!r}, stride {s}"))
    return cases


def convolve2d_cases(seed, n=10):
    """Odd kernels with the four paddings and a stride; even 2x4 kernels with 'valid' and 'full'."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(5, 20, size=2))
        kh, kw = (int(2 * v + 1) for v in rng.integers(0, 3, size=2))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, p), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, {p!r}"))
        s = int(rng.integers(2, 4))
        cases.append(((x, w, "same", s), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, 'same', stride {s}"))
        w2 = rng.normal(size=(2, 4))
        for p in ("valid", "full"):
            cases.append(((x, w2, p), {}, f"a {H}x{W} image with an even 2x4 kernel, {p!r}"))
    return cases


def output_size_cases(seed, n=200):
    """Random (n, k, padding, stride), padding a name or an int; combinations the reference rejects are left out."""
    from . import convolution as ref
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        size, k, s = int(rng.integers(1, 60)), int(rng.integers(1, 8)), int(rng.integers(1, 5))
        p = ["valid", "same", "full", "symmetric", int(rng.integers(0, 4))][int(rng.integers(0, 5))]
        try:
            ref.output_size(size, k, p, s)
        except ValueError:
            continue
        cases.append(((size, k, p, s), {}, f"output_size({size}, {k}, {p!r}, {s})"))
    return cases


def conv_layer_cases(seed, n=6):
    """Volumes (H, W, C), float32 weights (k, k, C, F) and biases, the four paddings, stride 1 or 2."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W, C, F = int(rng.integers(5, 16)), int(rng.integers(5, 16)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        k, s = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        x = rng.normal(size=(H, W, C)).astype(np.float32)
        w = rng.normal(size=(k, k, C, F)).astype(np.float32)
        b = rng.normal(size=F).astype(np.float32)
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, b, p, s), {}, f"a {H}x{W}x{C} volume, {F} filters {k}x{k}, {p!r}, stride {s}"))
    return cases


def conv_parameters_cases(seed, n=20):
    """Square and rectangular kernels, 1 to 512 channels and filters, with and without biases."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        k, d, nf = int(rng.integers(1, 8)), int(rng.integers(1, 513)), int(rng.integers(1, 513))
        for bias in (True, False):
            cases.append(((k, d, nf), {"use_bias": bias}, f"conv_parameters({k}, {d}, {nf}, use_bias={bias})"))
        kk = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        cases.append(((kk, d, nf), {}, f"conv_parameters({kk}, {d}, {nf})"))
    return cases


def receptive_field_cases(seed, n=30):
    """0 to 11 layers of kernels 1 to 11."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        L, k = int(rng.integers(0, 12)), int(rng.integers(1, 12))
        cases.append(((L, k), {}, f"receptive_field({L}, {k})"))
    return cases


def random_volume(seed, shape=(4, 4), scale=1.0, args=()):
    """One normal random array of ``shape`` times ``scale``, followed by the literal ``args``."""
    rng = _seed(seed)
    v = rng.normal(scale=float(scale), size=tuple(int(s) for s in shape))
    extra = f", {', '.join(map(repr, args))}" if args else ""
    return [((v, *args), {}, f"a random {'x'.join(map(str, v.shape))} volume{extra}")]


def max_pool_cases(seed, n=12):
    """Volumes (H, W, C), pools 1 to 4, stride None, 1 or random."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W, C = int(rng.integers(6, 25)), int(rng.integers(6, 25)), int(rng.integers(1, 5))
        p = int(rng.integers(1, 5))
        s = [None, 1, int(rng.integers(1, 5))][int(rng.integers(0, 3))]
        v = rng.normal(size=(H, W, C)).astype(np.float32)
        cases.append(((v, p, s), {}, f"a {H}x{W}x{C} volume, pool {p}, stride {s}"))
    return cases


def vgg_cases(seed=0, channels=(1, 3, 17, 64, 512)):
    """``(d, use_bias)`` for a few channel counts (no randomness; ``seed`` is unused)."""
    return [((int(d), bias), {}, f"vgg_comparison({d}, use_bias={bias})") for d in channels for bias in (False, True)]


def vgg_table(d, use_bias=False):
    """The lecture's table as one array: parameters, receptive fields, nonlinearities (3x3 stack, 7x7)."""
    from . import convolution as ref
    return np.array([ref.stack_parameters(3, 3, d, use_bias), ref.stack_parameters(1, 7, d, use_bias),
                     ref.receptive_field(3, 3), ref.receptive_field(1, 7), 3, 1])


__all__ += ["vgg_cases", "vgg_table"]
