"""Reference hand-crafted features of a parcel depth map (what students reimplement in 03).

The lecture lists the features: average height, area (coverage with nonzero
measurements), distribution of heights, perimeter and diagonals.  Here each
is one function of a single depth map ``depth`` (float array (H, W) in mm
above the belt, 0 = no measurement), plus a few extras, and
:func:`feature_matrix` stacks them for a batch.

Conventions
-----------
* "Measured" pixels are those with ``depth > 0``.  Heights are averaged over
  measured pixels only: the zeros are missing data, not a height.
* The *footprint* is the region the item covers on the belt, repaired for
  missing measurements: measured pixels, closed with a 3 x 3 square (fills
  single-pixel gaps and notches), holes filled, and only the largest
  8-connected component kept (drops flying pixels and specks).
* Geometric features (perimeter, diagonals) are in pixels; multiply by
  ``pixel_mm`` (8 mm in the course's dataset) for millimetres.  The
  perimeter is ``skimage.measure.perimeter(footprint, neighborhood=4)``: the
  length of the line through the centres of the border pixels, with steps
  of 1 (straight) and sqrt(2) (diagonal) pixels.  A 40 x 20 px rectangle
  therefore has a perimeter of 2 (39 + 19) = 116 px, not 120.
* Diagonals come from the minimum-area oriented bounding rectangle of the
  footprint, searched over orientations 0, 1, ..., 89 degrees: its side
  lengths are extents of the pixel centres plus one pixel, so an axis-aligned
  40 x 20 px rectangle gives length 40, width 20 and diagonal sqrt(40² + 20²).

Example
-------
>>> import numpy as np
>>> d = np.zeros((64, 64), np.float32); d[10:30, 5:45] = 100.0
>>> average_height(d), area(d), round(perimeter(d), 1)
(100.0, (800, 51200.0), 116.0)
>>> [round(v, 2) for v in diagonals(d)]
[40.0, 20.0, 44.72]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

# The constants are the student package's (given in the notebook), defined once there.
from parcel_utils.data import (FEATURE_NAMES, FEATURES_FILE, GENERATOR_VERSION, HEIGHT_BINS_MM, PIXEL_MM, SPLITS,
                               load_parcels)
from parcel_utils.progress import progress_bar

__all__ = [
    "HEIGHT_BINS_MM", "FEATURE_NAMES", "PIXEL_MM",
    "average_height", "area", "height_histogram", "footprint", "perimeter",
    "diagonals", "extra_features", "parcel_features", "feature_matrix",
    "feature_table", "write_feature_table",
]

_ANGLES = np.deg2rad(np.arange(90.0))
_COS, _SIN = np.cos(_ANGLES), np.sin(_ANGLES)
_SQUARE = np.ones((3, 3), bool)


def _as_depth(depth, name="depth"):
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"{name} should be one depth map of shape (H, W); got shape {d.shape} "
                         "(for a batch, use feature_matrix or loop over the maps).")
    if not np.issubdtype(d.dtype, np.number) and d.dtype != bool:
        raise ValueError(f"{name} should hold numbers (heights in mm), got dtype {d.dtype}.")
    return d


def average_height(depth):
    """Mean height (mm) over the measured pixels (``depth > 0``); 0.0 if none.

    Example
    -------
    >>> average_height(np.array([[0.0, 10.0], [30.0, 0.0]]))
    20.0
    """
    d = _as_depth(depth)
    m = d > 0
    n = int(m.sum())
    return float(d[m].astype(np.float64).sum() / n) if n else 0.0


def area(depth, pixel_mm=PIXEL_MM):
    """Coverage with nonzero measurements: ``(pixels, mm²)``.

    Parameters
    ----------
    depth : array (H, W)
    pixel_mm : float
        Side of one pixel in mm.

    Returns
    -------
    (int, float)
        The number of measured pixels and the area they cover in mm².

    Example
    -------
    >>> area(np.array([[0.0, 10.0], [30.0, 0.0]]), pixel_mm=8.0)
    (2, 128.0)
    """
    d = _as_depth(depth)
    if not pixel_mm > 0:
        raise ValueError(f"pixel_mm should be a positive size in mm, got {pixel_mm!r}.")
    n = int(np.count_nonzero(d > 0))
    return n, float(n * pixel_mm * pixel_mm)


def height_histogram(depth, bins=HEIGHT_BINS_MM):
    """Distribution of the measured heights on fixed bins, normalised to sum 1.

    Parameters
    ----------
    depth : array (H, W)
    bins : array (B + 1,)
        Increasing bin edges in mm (``numpy.histogram`` convention: the last
        bin includes its right edge).  Heights above the last edge are not counted.

    Returns
    -------
    ndarray (B,) float64
        The fraction of measured pixels in each bin; all zeros if nothing is measured.

    Example
    -------
    >>> height_histogram(np.array([[0.0, 15.0], [35.0, 38.0]]), bins=[0, 20, 40])
    array([0.33333333, 0.66666667])
    """
    d = _as_depth(depth)
    bins = np.asarray(bins, dtype=np.float64)
    if bins.ndim != 1 or bins.size < 2 or np.any(np.diff(bins) <= 0):
        raise ValueError("bins should be a 1-D array of at least two increasing edges in mm.")
    h = d[d > 0]
    if h.size == 0:
        return np.zeros(bins.size - 1)
    counts, _ = np.histogram(h, bins=bins)
    return counts / h.size


def footprint(depth):
    """The item's footprint: measured pixels, closed (3 x 3), holes filled, largest component.

    Returns
    -------
    ndarray (H, W) bool

    Example
    -------
    >>> d = np.zeros((10, 10)); d[2:8, 2:8] = 50.0; d[4, 4] = 0.0; d[0, 9] = 7.0
    >>> int(footprint(d).sum())   # the hole is filled, the speck dropped
    36
    """
    d = _as_depth(depth)
    m = d > 0
    if not m.any():
        return m
    # Pad so that closing does not erode at the image border.
    p = np.pad(m, 2)
    p = ndimage.binary_closing(p, structure=_SQUARE)[2:-2, 2:-2] | m
    p = ndimage.binary_fill_holes(p)
    lab, n = ndimage.label(p, structure=_SQUARE)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        p = lab == int(np.argmax(sizes))
    return p


def perimeter(depth):
    """Perimeter (px) of the footprint: ``skimage.measure.perimeter(footprint(depth), 4)``.

    Example
    -------
    >>> d = np.zeros((64, 64)); d[10:30, 5:45] = 100.0
    >>> float(perimeter(d))
    116.0
    """
    from skimage.measure import perimeter as _perimeter   # lazy: scikit-image takes 0.5 s; only this function needs it
    fp = footprint(depth)
    return float(_perimeter(fp, neighborhood=4)) if fp.any() else 0.0


def _obb(fp):
    """(length, width) in px of the minimum-area bounding rectangle over 0..89 degrees."""
    edge = fp & ~ndimage.binary_erosion(fp, structure=_SQUARE, border_value=0)
    r, c = np.nonzero(edge)
    if r.size == 0:
        return 0.0, 0.0
    p = c[:, None] * _COS + r[:, None] * _SIN            # (n, 90) projections on direction a
    q = -c[:, None] * _SIN + r[:, None] * _COS           # on the perpendicular direction
    e1 = p.max(axis=0) - p.min(axis=0) + 1.0
    e2 = q.max(axis=0) - q.min(axis=0) + 1.0
    k = int(np.argmin(e1 * e2))
    return float(max(e1[k], e2[k])), float(min(e1[k], e2[k]))


def diagonals(depth):
    """Length, width and diagonal (px) of the footprint's oriented bounding rectangle.

    Returns
    -------
    (float, float, float)
        ``(length, width, hypot(length, width))`` with ``length >= width``;
        zeros if nothing is measured.

    Example
    -------
    >>> d = np.zeros((64, 64)); d[10:30, 5:45] = 100.0
    >>> [round(v, 3) for v in diagonals(d)]
    [40.0, 20.0, 44.721]
    """
    L, W = _obb(footprint(depth))
    return L, W, float(np.hypot(L, W))


def extra_features(depth):
    """A few more features: height spread, 90th percentile, rectangularity, compactness.

    Returns
    -------
    (float, float, float, float)
        ``(std of measured heights (mm), 90th percentile (mm), footprint area /
        (length * width), 4 pi area / perimeter²)``.
    """
    d = _as_depth(depth)
    h = d[d > 0].astype(np.float64)
    if h.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    fp = footprint(d)
    a = float(fp.sum())
    L, W = _obb(fp)
    per = perimeter(d)
    return (float(h.std()), float(np.percentile(h, 90)),
            a / (L * W) if L * W else 0.0, 4 * np.pi * a / per ** 2 if per else 0.0)


def parcel_features(depth, pixel_mm=PIXEL_MM):
    """All reference features of one map, in the order of ``FEATURE_NAMES`` (mm units).

    The same numbers as ``feature_matrix(depth[None])[0]``.

    Example
    -------
    >>> d = np.zeros((64, 64)); d[10:30, 5:45] = 100.0
    >>> f = parcel_features(d)
    >>> len(f) == len(FEATURE_NAMES), float(f[0]), float(f[1])
    (True, 100.0, 51200.0)
    """
    d = _as_depth(depth)
    return _batch_features(d[None].astype(np.float32, copy=False), pixel_mm)[0]


_CROSS3 = np.zeros((3, 3, 3), bool)
_CROSS3[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
_SQUARE3 = np.zeros((3, 3, 3), bool)
_SQUARE3[1] = True
_PER_KERNEL = np.zeros((3, 3, 3), np.uint8)
_PER_KERNEL[1] = [[10, 2, 10], [2, 1, 2], [10, 2, 10]]
_PER_WEIGHTS = np.zeros(50)
_PER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1
_PER_WEIGHTS[[21, 33]] = np.sqrt(2)
_PER_WEIGHTS[[13, 23]] = (1 + np.sqrt(2)) / 2


def _batch_footprints(m):
    """footprint() of every map of a boolean stack (N, H, W), in a few whole-stack operations."""
    p = np.pad(m, ((0, 0), (2, 2), (2, 2)))
    p = ndimage.binary_closing(p, structure=_SQUARE3)[:, 2:-2, 2:-2] | m
    p = ndimage.binary_fill_holes(p, structure=_CROSS3)
    lab, n = ndimage.label(p, structure=_SQUARE3)
    if n == 0:
        return p
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    z = np.zeros(n + 1, np.int64)
    zz = np.broadcast_to(np.arange(len(m))[:, None, None], m.shape)
    on = lab > 0
    z[lab[on]] = zz[on]
    # The largest component of each map: sort labels by (map, size), keep the last per map.
    order = np.lexsort((sizes[1:], z[1:])) + 1
    best = np.zeros(len(m), np.int64)
    best[z[order]] = order
    return (lab == best[:, None, None]) & on


def _batch_perimeters(fp):
    """skimage.measure.perimeter(fp[i], neighborhood=4) for every map, same arithmetic."""
    img = fp.astype(np.uint8)
    border = img - ndimage.binary_erosion(img, _CROSS3, border_value=0)
    per_img = ndimage.convolve(border, _PER_KERNEL, mode="constant", cval=0)
    return np.array([np.bincount(per_img[i].ravel(), minlength=50) @ _PER_WEIGHTS for i in range(len(fp))])


def _batch_obb(fp):
    """(length, width) of the minimum-area rectangle (0..89 degrees) of every footprint."""
    edge = fp & ~ndimage.binary_erosion(fp, structure=_SQUARE3, border_value=0)
    z, r, c = np.nonzero(edge)
    L = np.zeros(len(fp))
    W = np.zeros(len(fp))
    if z.size == 0:
        return L, W
    p = c[:, None] * _COS + r[:, None] * _SIN
    q = -c[:, None] * _SIN + r[:, None] * _COS
    has = np.flatnonzero(np.bincount(z, minlength=len(fp)))
    starts = np.searchsorted(z, has)
    e1 = np.maximum.reduceat(p, starts) - np.minimum.reduceat(p, starts) + 1.0
    e2 = np.maximum.reduceat(q, starts) - np.minimum.reduceat(q, starts) + 1.0
    k = np.argmin(e1 * e2, axis=1)
    a, b = e1[np.arange(len(has)), k], e2[np.arange(len(has)), k]
    L[has], W[has] = np.maximum(a, b), np.minimum(a, b)
    return L, W


def _batch_features(X, pixel_mm):
    N = len(X)
    m = X > 0
    n = m.reshape(N, -1).sum(axis=1)
    nz = np.maximum(n, 1)
    h = np.where(m, X, 0).astype(np.float64)
    mean = h.reshape(N, -1).sum(axis=1) / nz
    var = (np.where(m, h - mean[:, None, None], 0.0) ** 2).reshape(N, -1).sum(axis=1) / nz
    # 90th percentile of the measured heights, linear interpolation (numpy's default).
    srt = np.sort(h.reshape(N, -1), axis=1)
    pos = (srt.shape[1] - n) + 0.9 * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, srt.shape[1] - 1)
    rows = np.arange(N)
    p90 = srt[rows, lo] + (srt[rows, hi] - srt[rows, lo]) * (pos - lo)
    # Height histogram on the fixed bins (numpy.histogram conventions).
    edges = HEIGHT_BINS_MM
    nb = edges.size - 1
    idx = np.searchsorted(edges, h, side="right") - 1
    idx[h == edges[-1]] = nb - 1
    ok = m & (h <= edges[-1])
    zz = np.broadcast_to(rows[:, None, None], X.shape)
    hist = np.bincount((zz[ok] * nb + idx[ok]), minlength=N * nb).reshape(N, nb) / nz[:, None]
    fp = _batch_footprints(m)
    per = _batch_perimeters(fp)
    L, W = _batch_obb(fp)
    a_fp = fp.reshape(N, -1).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rect = np.where(L * W > 0, a_fp / (L * W), 0.0)
        comp = np.where(per > 0, 4 * np.pi * a_fp / per ** 2, 0.0)
    out = np.column_stack([mean, n * pixel_mm ** 2, hist, per * pixel_mm, L * pixel_mm, W * pixel_mm,
                           np.hypot(L, W) * pixel_mm, np.sqrt(var), p90, rect, comp])
    out[n == 0] = 0.0
    return out


def feature_matrix(X, pixel_mm=PIXEL_MM, progress=False, chunk=500):
    """Reference features of a batch of maps: array (N, len(FEATURE_NAMES)).

    Vectorised over the maps (whole-stack ``scipy.ndimage`` operations), in
    chunks of ``chunk`` maps: about 1,400 maps per CPU-second, one core
    (``benchmarks/results/dataset_speed.json``: 1,367 on 3,000 maps of
    64 x 64 px; ``time.process_time`` around ``feature_matrix`` of the 1,000
    maps of ``load_parcels("val")``: 0.72 s, 1,386 maps/s, median of 5).

    Parameters
    ----------
    X : array (N, H, W) or (N, H, W, 1)
        Depth maps in mm.
    pixel_mm : float
        Pixel size in mm.
    progress : bool
        Show a progress bar, one step per chunk (``parcel_utils.progress.progress_bar``:
        a widget where Jupyter can draw one, else text, and no ipywidgets warning).
    chunk : int
        Maps per chunk (memory: about 200 bytes per pixel of a chunk).

    Example
    -------
    >>> X = np.zeros((2, 64, 64)); X[:, 10:30, 5:45] = 100.0
    >>> feature_matrix(X).shape == (2, len(FEATURE_NAMES))
    True
    """
    X = np.asarray(X)
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    if X.ndim != 3:
        raise ValueError(f"X should be a batch of depth maps of shape (N, H, W); got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X should hold numbers (heights in mm), got dtype {X.dtype}.")
    X = X.astype(np.float32, copy=False)
    starts = range(0, len(X), chunk)
    if progress:
        starts = progress_bar(starts, desc="features", unit="chunk", mininterval=0.5)
    parts = [_batch_features(X[s:s + chunk], pixel_mm) for s in starts]
    return np.concatenate(parts) if parts else np.zeros((0, len(FEATURE_NAMES)))


# ---------------------------------------------------------------- the feature table the student package ships

def feature_table(split, seed=0, progress=False):
    """The features of a whole split as the student package ships them: ``feature_matrix`` rounded to float32.

    ``parcel_utils.data.load_features(split)`` returns these values (as
    float64); the grader recomputes them here to check what a model was
    fitted on.

    Example
    -------
    >>> feature_table("val").shape   # doctest: +SKIP
    (1000, 20)
    """
    X, _, _ = load_parcels(split, seed=seed, progress=progress)
    return feature_matrix(X, progress=progress).astype(np.float32)


def write_feature_table(path=None, seed=0, progress=True):
    """Write the feature table of the three splits (``parcel_utils/parcel_features_seed0.npz`` by default).

    Run it after a change of the dataset generator (``GENERATOR_VERSION``) or
    of :func:`feature_matrix`: ``python -m parcel_course.assignments.03_handcrafted.reference``.
    The file holds one float32 array (N, 20) per split, ``feature_names`` and
    ``generator_version``; the student package reads it with
    ``parcel_utils.data.load_features``.

    Returns
    -------
    Path
        The file written.

    Example
    -------
    >>> write_feature_table("/tmp/features.npz", progress=False)   # doctest: +SKIP
    PosixPath('/tmp/features.npz')
    """
    if int(seed) != 0 and path is None:
        raise ValueError("seed should be 0 for the shipped table (it is the course's dataset); "
                         "give a path to write the table of another seed.")
    path = Path(FEATURES_FILE if path is None else path)
    tables = {split: feature_table(split, seed=seed, progress=progress) for split in SPLITS}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, feature_names=np.array(FEATURE_NAMES), generator_version=np.int64(GENERATOR_VERSION),
                            **tables)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def main(argv=None):
    """``python -m parcel_course.assignments.03_handcrafted.reference [PATH]``: (re)write the shipped feature table."""
    parser = argparse.ArgumentParser(prog="python -m parcel_course.assignments.03_handcrafted.reference",
                                     description="Write the hand-crafted feature table the student package ships.")
    parser.add_argument("path", nargs="?", default=None,
                        help="where to write it (default: parcel_utils/parcel_features_seed0.npz)")
    args = parser.parse_args(argv)
    path = write_feature_table(args.path)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
