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

import numpy as np
from scipy import ndimage

__all__ = [
    "HEIGHT_BINS_MM", "FEATURE_NAMES", "PIXEL_MM",
    "average_height", "area", "height_histogram", "footprint", "perimeter",
    "diagonals", "extra_features", "parcel_features", "feature_matrix",
]

PIXEL_MM = 8.0
HEIGHT_BINS_MM = np.array([0.0, 10, 20, 40, 60, 80, 100, 150, 200, 250, 700])
_ANGLES = np.deg2rad(np.arange(90.0))
_COS, _SIN = np.cos(_ANGLES), np.sin(_ANGLES)
_SQUARE = np.ones((3, 3), bool)

FEATURE_NAMES = (
    ["average_height_mm", "area_mm2"]
    + [f"hist_{int(a)}_{int(b)}mm" for a, b in zip(HEIGHT_BINS_MM[:-1], HEIGHT_BINS_MM[1:])]
    + ["perimeter_mm", "length_mm", "width_mm", "diagonal_mm",
       "height_std_mm", "height_p90_mm", "rectangularity", "compactness"]
)


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
    from skimage.measure import perimeter as _perimeter
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

    Example
    -------
    >>> d = np.zeros((64, 64)); d[10:30, 5:45] = 100.0
    >>> f = parcel_features(d)
    >>> len(f) == len(FEATURE_NAMES), float(f[0]), float(f[1])
    (True, 100.0, 51200.0)
    """
    d = _as_depth(depth)
    h = d[d > 0].astype(np.float64)
    n = h.size
    hist = (np.histogram(h, bins=HEIGHT_BINS_MM)[0] / n) if n else np.zeros(HEIGHT_BINS_MM.size - 1)
    if n == 0:
        return np.zeros(len(FEATURE_NAMES))
    fp = footprint(d)
    from skimage.measure import perimeter as _perimeter
    per = float(_perimeter(fp, neighborhood=4))
    L, W = _obb(fp)
    a_fp = float(fp.sum())
    out = [h.mean(), n * pixel_mm ** 2, *hist,
           per * pixel_mm, L * pixel_mm, W * pixel_mm, np.hypot(L, W) * pixel_mm,
           h.std(), np.percentile(h, 90),
           a_fp / (L * W) if L * W else 0.0, 4 * np.pi * a_fp / per ** 2 if per else 0.0]
    return np.asarray(out, dtype=np.float64)


def feature_matrix(X, pixel_mm=PIXEL_MM, progress=False):
    """Reference features of a batch of maps: array (N, len(FEATURE_NAMES)).

    Parameters
    ----------
    X : array (N, H, W) or (N, H, W, 1)
        Depth maps in mm.
    pixel_mm : float
        Pixel size in mm.
    progress : bool
        Show a tqdm progress bar.

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
    it = range(len(X))
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="features", unit="map", mininterval=0.5)
    return np.stack([parcel_features(X[i], pixel_mm) for i in it]) if len(X) else np.zeros((0, len(FEATURE_NAMES)))
