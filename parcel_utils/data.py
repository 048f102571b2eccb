"""The parcel depth-map dataset: a synthetic stand-in for the course's parcels.

A 3D sensor looks down on a conveyor belt and returns, for every pixel, the
height of what lies under it in millimetres above the belt (``0`` where the
sensor returns nothing).  This module simulates such top views for five
classes of items and keeps fixed, disjoint train / validation / test splits.

Image geometry
--------------
Every map is ``IMAGE_SIZE x IMAGE_SIZE = 64 x 64`` pixels of ``PIXEL_MM = 8`` mm,
a 512 mm x 512 mm window of the belt.  A 300 mm box covers about 37 pixels,
enough for perimeter and diagonal features, and small enough that a CNN
trains in minutes on a laptop CPU.  Heights are quantised to 0.1 mm.

Classes
-------
``CLASS_NAMES = ("box", "envelope", "polybag", "tube", "multiple")``:

box
    A carton: rectangular footprint (corners sometimes rounded: crushed),
    flat top with sharp edges, 20-300 mm high (log-uniform: many thin ones);
    60 % have a bulging or sagging top, some of those lean (the top slopes);
    a fifth are long and narrow (poster boxes); half carry a strip of tape,
    a third a label (raised, or glossy: no return).
envelope
    5-45 mm thick, pillow-shaped (thicker in the middle, thin at the rim) or,
    for 70 %, stiff (nearly flat, a short taper at the rim); the flap is one
    more layer of paper: a V-shaped step of 2-4 mm from one short side.
polybag
    A soft bag, 25-200 mm high, domed and always wrinkled (3-6 mm + up to
    5 % of the height); an irregular oval outline, or, for 60 %, a rounded
    rectangle with a flatter top (a bag around a box).
tube
    A cylinder lying in any direction, 50-160 mm across: heights go from its
    radius at the rim to its diameter on the ridge.
multiple
    A singulation failure.  60 % are one box cut into 2-3 pieces (boxes side
    by side, same height within 4 %): the same size, height and outline as
    one box; only the 1-2 px gaps between them (the belt shows: no return)
    tell.  The others are 2-3 smaller items of any kind touching or
    overlapping, with a crease where they meet.

Sizes overlap between classes on purpose (a thick envelope against a thin
box, a narrow box against a tube, two boxes against one).  The shares above
(``_KNOBS``) set the difficulty: they were calibrated so that the reference
hand-crafted classifier (the features of :func:`load_features` + scaled RBF SVM) reaches
80-92 % on the test split while every class stays visibly distinct.

Sensor model
------------
In this order: occlusion shadows on the +x side of tall edges (the camera
sits beside the laser plane: a step of ``d`` mm hides ``0.12 d`` mm of what
lies behind it); a slight belt tilt (up to 1.5 mm across the window);
Gaussian noise (0.7 mm + 0.4 % of the height); "flying pixels" on steep
edges along the scan direction x (a value between the two sides, on a
quarter of the edge pixels);
the sensor's own belt suppression (anything below ``BELT_THRESHOLD_MM = 4`` mm
reads 0); random dropout (0-2.5 % of the pixels); quantisation to 0.1 mm.

Splits
------
``SPLITS``: train 4000, val 1000, test 1500 maps.  Sample ``i`` of split ``s``
is drawn from its own generator seeded with ``(seed, SPLIT_CODES[s], i)``, so
the splits are disjoint by construction, a split's first ``n`` samples do not
depend on how many are generated, and every map is reproducible bit for bit.
Class frequencies are mildly imbalanced (``CLASS_PROBS``), as on a real belt.

Hand-crafted features
---------------------
03_handcrafted's classifier uses 20 hand-crafted features per map
(``FEATURE_NAMES``: average height, area, the height histogram on
``HEIGHT_BINS_MM``, perimeter, oriented length, width and diagonal, ...).
The package ships them for the three splits of the course's dataset as data
(``parcel_features_seed0.npz``, float32): :func:`load_features` reads them.
The code that computes them is the instructor's.

Example
-------
>>> X, y, names = load_parcels("val")          # doctest: +SKIP
>>> X.shape, X.dtype, names[y[0]]              # doctest: +SKIP
((1000, 64, 64), dtype('float32'), 'multiple')
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
import warnings

import numpy as np
from .progress import progress_bar

__all__ = [
    "CLASS_NAMES", "CLASS_PROBS", "IMAGE_SIZE", "PIXEL_MM", "SPLITS", "SPLIT_CODES",
    "PNG_MM_PER_UNIT", "BELT_THRESHOLD_MM", "GENERATOR_VERSION",
    "generate_parcels", "render_parcel", "parcel_sample", "load_parcels", "default_cache_dir",
    "export_image_folders", "read_png_depth",
    "HEIGHT_BINS_MM", "FEATURE_NAMES", "FEATURES_FILE", "load_features", "cache_file",
]

CLASS_NAMES = ("box", "envelope", "polybag", "tube", "multiple")
CLASS_PROBS = (0.26, 0.22, 0.20, 0.14, 0.18)
IMAGE_SIZE = 64
PIXEL_MM = 8.0
SPLITS = {"train": 4000, "val": 1000, "test": 1500}
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
PNG_MM_PER_UNIT = 0.01          # 16-bit PNG: 1 unit = 0.01 mm, 65535 = 655.35 mm
BELT_THRESHOLD_MM = 4.0
GENERATOR_VERSION = 4           # bump when the generator changes: the cache key includes it
#: Edges (mm) of the 10 bins of the height histogram, the same for every map.
HEIGHT_BINS_MM = np.array([0.0, 10, 20, 40, 60, 80, 100, 150, 200, 250, 700])
#: The 20 hand-crafted features of :func:`load_features`, in column order (geometric ones in mm).
FEATURE_NAMES = tuple(
    ["average_height_mm", "area_mm2"]
    + [f"hist_{int(a)}_{int(b)}mm" for a, b in zip(HEIGHT_BINS_MM[:-1], HEIGHT_BINS_MM[1:])]
    + ["perimeter_mm", "length_mm", "width_mm", "diagonal_mm",
       "height_std_mm", "height_p90_mm", "rectangularity", "compactness"]
)
#: The shipped feature table of the course's dataset (seed 0), beside this module.
FEATURES_FILE = Path(__file__).with_name("parcel_features_seed0.npz")

_N = IMAGE_SIZE
_C = (np.arange(_N, dtype=np.float64) + 0.5) * PIXEL_MM     # pixel centres in mm
_FIELD = _N * PIXEL_MM


class _Window:
    """A crop of the field: rows r0:r1, columns c0:c1, with its coordinate vectors (mm)."""

    def __init__(self, lo, hi):
        # Margins: 2 pixels around the item, 8 on the +x side where shadows fall.
        self.r0 = max(0, int(np.floor(lo[1] / PIXEL_MM)) - 2)
        self.r1 = min(_N, int(np.ceil(hi[1] / PIXEL_MM)) + 2)
        self.c0 = max(0, int(np.floor(lo[0] / PIXEL_MM)) - 2)
        self.c1 = min(_N, int(np.ceil(hi[0] / PIXEL_MM)) + 8)
        self.x = _C[self.c0:self.c1][None, :]
        self.y = _C[self.r0:self.r1][:, None]
        self.shape = (self.r1 - self.r0, self.c1 - self.c0)


# ---------------------------------------------------------------- shapes
# Each shape returns (height, f) on a window: height in mm of the item's top
# surface, and a signed distance-like field f (mm, < 0 inside the item).

def _frame(w, cx, cy, theta):
    c, s = np.cos(theta), np.sin(theta)
    dx, dy = w.x - cx, w.y - cy
    return dx * c + dy * s, -dx * s + dy * c


def _rect_f(u, v, a, b):
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def _support(a, b, theta):
    """Half extents along x and y of a rectangle of half sizes a, b rotated by theta."""
    c, s = abs(np.cos(theta)), abs(np.sin(theta))
    return a * c + b * s, a * s + b * c


def _rounded_rect_f(u, v, a, b, rc):
    """Signed distance (mm) to a rectangle of half sizes a, b with corners rounded by rc."""
    if rc <= 0:
        return _rect_f(u, v, a, b)
    qx = np.abs(u) - (a - rc)
    qy = np.abs(v) - (b - rc)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rc


def _box(rng, p, w, cx, cy):
    u, v = _frame(w, cx, cy, p["theta"])
    a, b, h = p["a"], p["b"], p["h"]
    f = _rounded_rect_f(u, v, a, b, p["rc"])
    top = np.full(u.shape, h)
    if p["bulge"]:                                # an overfilled (> 0) or sagging (< 0) top
        top = top + p["bulge"] * h * np.clip(1 - (u / a) ** 2, 0, 1) * np.clip(1 - (v / b) ** 2, 0, 1)
    if p["lean"]:                                 # resting on something: the top slopes
        top = top + p["lean"] * h * (u / a)
    if rng.random() < 0.5:                        # tape along the length
        tw = rng.uniform(20, 50)
        top = top + np.where(np.abs(v - rng.uniform(-0.3, 0.3) * b) < tw / 2, rng.uniform(1.0, 3.0), 0.0)
    return top, f


def _envelope(rng, p, w, cx, cy):
    u, v = _frame(w, cx, cy, p["theta"])
    a, b, t = p["a"], p["b"], p["h"]
    f = _rounded_rect_f(u, v, a, b, p["rc"])
    uu, vv = (u / a) ** 2, (v / b) ** 2              # |u/a| ** pow with pow = 2 k, by products
    pu, pv = uu, vv
    for _ in range(p["pow"] // 2 - 1):
        pu, pv = pu * uu, pv * vv
    gu = np.clip(1 - pu, 0, 1)
    gv = np.clip(1 - pv, 0, 1)
    top = t * (p["rim"] + (1 - p["rim"]) * gu * gv)
    # The flap: one more layer of paper, a triangle from one short side, its
    # tip at the fold point (a V-shaped step).
    tip = p["fold"] * a
    top = top + np.where(u * p["side"] > tip + (a - tip) * np.abs(v) / b, p["flap"], 0.0)
    return top, f


def _polybag(rng, p, w, cx, cy):
    u, v = _frame(w, cx, cy, p["theta"])
    a, b, h = p["a"], p["b"], p["h"]
    if p["outline"] == "round":                   # an irregular oval
        un, vn = u / a, v / b
        rr = np.sqrt(un * un + vn * vn) + 1e-9
        c1, s1 = un / rr, vn / rr                 # cos and sin of the polar angle phi
        ck, sk = c1, s1
        r = 1.0
        for k, amp, pk in p["harm"]:              # k = 2, 3, 4: r = 1 + sum amp_k cos(k phi + p_k)
            ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
            r = r + (amp * np.cos(pk)) * ck - (amp * np.sin(pk)) * sk
        rho = rr / r
        f = (rho - 1.0) * b
        inside = np.clip(1 - rho * rho, 0, 1)
    else:                                         # a bag around a box: a rounded rectangle
        f = _rounded_rect_f(u, v, a, b, p["rc"])
        inside = np.clip(-f / (p["rise"] * b), 0, 1)
        inside = inside * (2 - inside)
    sq = np.sqrt(inside)
    top = h * (p["dome"] * sq + (1 - p["dome"]) * inside)
    wr = np.zeros(u.shape)
    for d, lam, ph in p["wrinkles"]:              # sin(k.x + ph), separable in x and y
        k = 2 * np.pi / lam
        ax, ay = k * np.cos(d) * w.x + ph, k * np.sin(d) * w.y
        wr += np.sin(ay) * np.cos(ax) + np.cos(ay) * np.sin(ax)
    top = top + p["wamp"] * wr * sq
    return np.maximum(top, 0.3 * h * sq), f


def _tube(rng, p, w, cx, cy):
    u, v = _frame(w, cx, cy, p["theta"])
    a, R = p["a"], p["b"]
    f = _rect_f(u, v, a, R)
    top = R + np.sqrt(np.clip(R * R - v * v, 0, None))
    return top, f


_SHAPES = {"box": _box, "envelope": _envelope, "polybag": _polybag, "tube": _tube}

# Knobs of the difficulty for hand-crafted features (calibrated, see DATASET.md).
_KNOBS = dict(
    box_round=0.35,       # share of boxes with rounded (crushed) corners
    box_shape=0.6,       # share of boxes with a bulging/sagging or leaning top
    box_long=0.2,         # share of long narrow boxes
    env_flat=0.7,         # share of stiff envelopes (flat, little taper at the rim)
    bag_rect=0.6,        # share of polybags wrapped around a box (rounded-rectangle outline)
    multi_aligned=0.6,    # share of "multiple" that are one box cut in 2-3 pieces by seams
)


def _params(rng, kind, scale=1.0):
    """Random size/shape parameters (half sizes a >= b, in mm) of one item."""
    theta = rng.uniform(0, np.pi)
    K = _KNOBS
    if kind == "box":
        if rng.random() < K["box_long"]:          # long and narrow, like a poster box
            L = rng.uniform(250, 450) * scale
            W = rng.uniform(60, 110) * scale
        else:
            L = rng.uniform(120, 400) * scale
            W = max(rng.uniform(0.25, 1.0) * L, 60 * scale)
        shaped = rng.random() < K["box_shape"]
        p = dict(a=L / 2, b=W / 2, h=np.exp(rng.uniform(np.log(20), np.log(300))) * np.sqrt(scale),
                 rc=rng.uniform(0.1, 0.45) * W / 2 if rng.random() < K["box_round"] else 0.0,
                 bulge=rng.uniform(-0.12, 0.15) if shaped else 0.0,
                 lean=rng.uniform(-0.2, 0.2) if shaped and rng.random() < 0.5 else 0.0)
    elif kind == "envelope":
        L = rng.uniform(180, 380) * scale
        W = rng.uniform(0.45, 0.9) * L
        flat = rng.random() < K["env_flat"]
        p = dict(a=L / 2, b=W / 2, h=rng.uniform(5, 45) if not flat else rng.uniform(8, 40),
                 rim=rng.uniform(0.6, 0.9) if flat else rng.uniform(0.15, 0.6),
                 pow=rng.choice((2, 4, 6)) if not flat else rng.choice((6, 8, 10, 12)),
                 rc=rng.uniform(0, 15), fold=rng.uniform(0.2, 0.6), side=rng.choice([-1.0, 1.0]),
                 flap=rng.uniform(2.0, 4.0))
    elif kind == "polybag":
        L = rng.uniform(180, 420) * scale
        W = rng.uniform(0.45, 0.95) * L
        rect = rng.random() < K["bag_rect"]
        h = rng.uniform(25, 200) * np.sqrt(scale)
        p = dict(a=L / 2, b=W / 2, h=h, outline="rect" if rect else "round",
                 rc=rng.uniform(0.3, 0.8) * W / 2, rise=rng.uniform(0.15, 0.6),
                 harm=[(k, rng.uniform(0, 0.18) / k, rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)],
                 dome=rng.uniform(0.3, 1.0), wamp=rng.uniform(3.0, 6.0) + rng.uniform(0.0, 0.05) * h,
                 wrinkles=[(rng.uniform(0, np.pi), rng.uniform(30, 80), rng.uniform(0, 2 * np.pi))
                           for _ in range(3)])
    elif kind == "tube":
        L = rng.uniform(200, 480) * scale
        D = rng.uniform(50, 160) * np.sqrt(scale)
        p = dict(a=L / 2, b=D / 2, h=D)
    else:
        raise ValueError(f"kind should be one of {list(_SHAPES)}, got {kind!r}.")
    p["kind"], p["theta"] = kind, theta
    return p


def _extent(p):
    """Half extents along x and y (bounding box) of an item."""
    a, b = p["a"], p["b"]
    if p["kind"] == "polybag" and p["outline"] == "round":
        k = 1.0 + sum(ck for _, ck, _ in p["harm"])
        a, b = a * k, b * k
    return _support(a, b, p["theta"])


def _place(rng, ex, ey):
    """A centre that keeps a bounding box of half extents (ex, ey) inside the field."""
    lo_x, hi_x = ex, _FIELD - ex
    lo_y, hi_y = ey, _FIELD - ey
    cx = rng.uniform(lo_x, hi_x) if hi_x > lo_x else _FIELD / 2
    cy = rng.uniform(lo_y, hi_y) if hi_y > lo_y else _FIELD / 2
    return cx, cy


def _scene_single(rng, kind):
    p = _params(rng, kind)
    ex, ey = _extent(p)
    cx, cy = _place(rng, ex, ey)
    w = _Window((cx - ex, cy - ey), (cx + ex, cy + ey))
    h, f = _SHAPES[kind](rng, p, w, cx, cy)
    top = np.where(f < 0, h, 0.0)
    if kind in ("box", "envelope") and rng.random() < 0.35:    # a label: glossy (no return) or raised
        u, v = _frame(w, cx, cy, p["theta"])
        lu, lv = rng.uniform(-0.5, 0.5) * p["a"], rng.uniform(-0.5, 0.5) * p["b"]
        lab = ((np.abs(u - lu) < min(rng.uniform(25, 50), 0.4 * p["a"]))
               & (np.abs(v - lv) < min(rng.uniform(18, 35), 0.4 * p["b"])) & (f < 0))
        return w, top, lab, rng.random() < 0.5
    return w, top, None, False


def _ray(p, dv):
    """Distance from an item's centre to its outline along the unit direction ``dv``."""
    c, s = np.cos(p["theta"]), np.sin(p["theta"])
    du, dw = abs(dv[0] * c + dv[1] * s), abs(-dv[0] * s + dv[1] * c)
    if p["kind"] == "polybag" and p["outline"] == "round":    # the mean ellipse
        return 1.0 / np.hypot(du / p["a"], dw / p["b"])
    return min(p["a"] / max(du, 1e-9), p["b"] / max(dw, 1e-9))


def _scene_split_box(rng, n_items):
    p = _params(rng, "box")
    p.update(rc=0.0)
    ex, ey = _extent(p)
    cx, cy = _place(rng, ex, ey)
    w = _Window((cx - ex, cy - ey), (cx + ex, cy + ey))
    h, f = _box(rng, p, w, cx, cy)
    u, v = _frame(w, cx, cy, p["theta"])
    a = p["a"]
    cuts = a * (-1 + 2 * (np.arange(1, n_items) + rng.uniform(-0.35, 0.35, size=n_items - 1)) / n_items)
    top = np.where(f < 0, h, 0.0)
    seam = np.zeros(top.shape, bool)
    for c in cuts:
        seam |= np.abs(u - c) < rng.uniform(0.6, 1.0) * PIXEL_MM
    # Each piece has its own height, within a few per cent.
    piece = np.searchsorted(cuts, u)
    top = top * (1 + rng.uniform(-0.04, 0.04, size=n_items))[piece]
    top = np.where(seam, 0.0, top)           # the gap between two boxes: the belt, no return
    return w, top, None, False


def _scene_multiple(rng):
    n_items = 2 if rng.random() < 0.7 else 3
    if rng.random() < _KNOBS["multi_aligned"]:
        # Boxes of the same height side by side, aligned: together they have
        # the size, height and outline of one box; only the seams tell.
        return _scene_split_box(rng, n_items)
    kinds = [("box", "envelope", "polybag", "tube")[i]
             for i in np.searchsorted(np.cumsum([0.4, 0.2, 0.25, 0.15]), rng.random(n_items) * 0.999999)]
    items = [_params(rng, k, scale=rng.uniform(0.55, 0.8)) for k in kinds]
    # Chain the items: each one touches (or slightly overlaps) the previous one.
    centres = [np.zeros(2)]
    for i in range(1, n_items):
        d = rng.uniform(0, 2 * np.pi)
        dv = np.array([np.cos(d), np.sin(d)])
        r = _ray(items[i - 1], dv) + _ray(items[i], dv)
        centres.append(centres[-1] + dv * r * rng.uniform(0.9, 1.0))
    centres = np.array(centres)
    ext = np.array([_extent(p) for p in items])
    lo, hi = (centres - ext).min(axis=0), (centres + ext).max(axis=0)
    cx, cy = _place(rng, *((hi - lo) / 2))
    centres = centres + (np.array([cx, cy]) - (lo + hi) / 2)
    lo, hi = (centres - ext).min(axis=0), (centres + ext).max(axis=0)
    w = _Window(lo, hi)
    top = np.zeros(w.shape)
    fs = []
    for c, p in zip(centres, items):
        h, f = _SHAPES[p["kind"]](rng, p, w, c[0], c[1])
        top = np.where(f < 0, np.maximum(top, h), top)
        fs.append(f)
    # The seam: where two items meet, the surface dips (a crease, often no return).
    if len(fs) == 2:
        f0, f1 = np.minimum(fs[0], fs[1]), np.maximum(fs[0], fs[1])
    else:                                          # smallest and second smallest of three
        lo_, hi_ = np.minimum(fs[0], fs[1]), np.maximum(fs[0], fs[1])
        f0, f1 = np.minimum(lo_, fs[2]), np.maximum(lo_, np.minimum(hi_, fs[2]))
    seam = (f0 < 0) & (f1 > -1.2 * PIXEL_MM) & (f1 < 0.6 * PIXEL_MM)
    top = np.where(seam, top * (1 - (1.0 if rng.random() < 0.6 else rng.uniform(0.3, 1.0))), top)
    return w, top, None, False


_BANK = 256
_bank_rng = np.random.default_rng(20240214)
_UNIFORM_BANK = _bank_rng.random((3, _BANK, _BANK))
_NORMAL_BANK = _bank_rng.standard_normal((_BANK, _BANK))
del _bank_rng


def _noise_fields(rng, shape):
    """Per-map random fields, cut from fixed banks at random offsets.

    Drawing fresh random numbers for every pixel of every map costs more than
    rendering it; a random window of a fixed 256 x 256 bank is as good for the
    sensor model and much cheaper.
    """
    o = rng.integers(0, _BANK - _N, size=4)
    u = _UNIFORM_BANK[:, o[0]:o[0] + shape[0], o[1]:o[1] + shape[1]]
    n = _NORMAL_BANK[o[2]:o[2] + shape[0], o[3]:o[3] + shape[1]]
    return u, n


def _sensor(rng, w, h, label, label_glossy):
    """Apply the sensor model to a true height map (mm above the belt) on window ``w``."""
    if label is not None and not label_glossy:
        h = h + np.where(label, rng.uniform(0.8, 2.0), 0.0)
    u, noise = _noise_fields(rng, h.shape)
    gx, gy = rng.uniform(-1.5, 1.5, size=2) / _FIELD
    drop_rate = rng.uniform(0.0, 0.025)
    # Occlusion shadows on the +x side of tall steps: a step of d mm hides 0.12 d mm.
    reach = PIXEL_MM / 0.12
    shadow = np.zeros(h.shape, bool)
    for k in range(1, min(5, int(h.max() // reach)) + 1):
        shadow[:, k:] |= (h[:, :-k] - h[:, k:]) > k * reach
    # Belt tilt and noise (0.7 mm + 0.4 % of the height).
    m = h * (1 + 0.004 * noise)
    m += 0.7 * noise + (gx * (w.x - _FIELD / 2) + gy * (w.y - _FIELD / 2))
    # Flying pixels, along the scan direction (x): across a step of more than
    # 25 mm between two neighbours, one of the two pixels reads, in half the
    # cases, a value somewhere between the two sides.
    d = h[:, 1:] - h[:, :-1]
    r, c = np.nonzero((np.abs(d) > 25.0) & (u[0, :, 1:] < 0.5))
    if len(r):
        t = 2 * u[1, r, c]                       # t < 1: the first pixel flies, else the second
        m[r, c + (t >= 1)] = h[r, c] + (t % 1.0) * d[r, c]
    m[shadow] = 0.0
    if label is not None and label_glossy:
        m[label] = 0.0
    m[m < BELT_THRESHOLD_MM] = 0.0
    m[u[2] < drop_rate] = 0.0
    return m


class _Draws:
    """Random numbers for one map, drawn from a buffer of uniforms filled in bulk.

    One call of ``Generator.uniform`` for a scalar costs as much as rendering
    a few hundred pixels; a map needs about fifty scalars, so they are read
    from a buffer (refilled from the map's own generator when exhausted).
    """

    __slots__ = ("rng", "buf", "i")

    def __init__(self, rng):
        self.rng = rng
        self.buf = rng.random(64).tolist()
        self.i = 0

    def random(self, size=None):
        if size is not None:
            return np.array([self.random() for _ in range(size)])
        if self.i == len(self.buf):
            self.buf = self.rng.random(64).tolist()
            self.i = 0
        v = self.buf[self.i]
        self.i += 1
        return v

    def uniform(self, low, high, size=None):
        if size is not None:
            return low + (high - low) * self.random(size)
        return low + (high - low) * self.random()

    def integers(self, low, high, size):
        return (low + (self.random(size) * (high - low))).astype(np.int64)

    def choice(self, options):
        return options[min(int(self.random() * len(options)), len(options) - 1)]


def render_parcel(seed_seq):
    """Render one depth map from a seed.

    Parameters
    ----------
    seed_seq : int, sequence of int or numpy.random.SeedSequence
        Everything random about the map comes from ``numpy.random.default_rng(seed_seq)``.

    Returns
    -------
    depth : ndarray, shape (IMAGE_SIZE, IMAGE_SIZE), float32
        Heights in mm above the belt, 0 where nothing is measured, quantised to 0.1 mm.
    label : int
        Index into ``CLASS_NAMES``.

    Example
    -------
    >>> d, k = render_parcel([0, 1, 0])
    >>> d.shape, d.dtype, CLASS_NAMES[k] in CLASS_NAMES
    ((64, 64), dtype('float32'), True)
    """
    rng = _Draws(np.random.default_rng(seed_seq))
    label = min(int(np.searchsorted(_CUM_PROBS, rng.random(), side="right")), len(CLASS_NAMES) - 1)
    kind = CLASS_NAMES[label]
    if kind == "multiple":
        w, top, lab, glossy = _scene_multiple(rng)
    else:
        w, top, lab, glossy = _scene_single(rng, kind)
    m = _sensor(rng, w, top, lab, glossy)
    out = np.zeros((_N, _N), np.float32)
    np.multiply(m, 10, out=m)
    np.rint(m, out=m)
    out[w.r0:w.r1, w.c0:w.c1] = m          # exact: integers below 2**24
    out /= np.float32(10)                   # same as _from_units: float32(k) / float32(10)
    return out, label


_CUM_PROBS = np.cumsum(CLASS_PROBS)


def _quantise(m):
    units = np.rint(np.clip(m, 0, 655.0) * 10).astype(np.uint16)
    return _from_units(units)


def _from_units(units):
    """0.1 mm units (uint16) -> float32 mm; the one conversion used everywhere."""
    return units.astype(np.float32) / np.float32(10)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split should be one of {list(SPLITS)}, got {split!r}.")


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed should be a non-negative int, got {seed!r}.")


def generate_parcels(split, n=None, seed=0, progress=False):
    """Generate the first ``n`` maps of a split (no cache).

    Parameters
    ----------
    split : {"train", "val", "test"}
    n : int, optional
        How many maps, from the start of the split; default the split's size
        (``SPLITS[split]``).  The first ``n`` maps are the same whatever ``n``.
    seed : int
        The dataset seed (0 is the course's dataset).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    X : ndarray (n, 64, 64) float32, heights in mm
    y : ndarray (n,) int64, class indices into ``CLASS_NAMES``

    Example
    -------
    >>> X, y = generate_parcels("test", n=5)
    >>> X.shape, y.shape
    ((5, 64, 64), (5,))
    """
    _check_split(split)
    _check_seed(seed)
    if n is None:
        n = SPLITS[split]
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n should be a non-negative int, got {n!r}.")
    X = np.empty((n, _N, _N), np.float32)
    y = np.empty(n, np.int64)
    it = range(n)
    if progress:
        it = progress_bar(it, desc=f"generating parcels ({split})", unit="map", mininterval=0.5)
    for i in it:
        X[i], y[i] = render_parcel(_sample_seed(split, i, seed))
    return X, y


def _sample_seed(split, index, seed):
    """The seed of sample ``index`` of ``split``: ``(seed, SPLIT_CODES[split], index, GENERATOR_VERSION)``."""
    return [int(seed), SPLIT_CODES[split], int(index), GENERATOR_VERSION]


def parcel_sample(split, index, seed=0):
    """One map of a split, rendered alone (no generation of the split, no cache).

    The same array, bit for bit, as ``load_parcels(split, seed)[0][index]``,
    and its label: each sample is drawn from its own seed (see "Splits"
    above).  This is what the grader uses to rebuild the maps of a hidden test
    without the dataset (about a millisecond per map).

    Parameters
    ----------
    split : {"train", "val", "test"}
    index : int
        ``0 <= index < SPLITS[split]``.
    seed : int
        The dataset seed (0 is the course's dataset).

    Returns
    -------
    depth : ndarray (64, 64) float32
    label : int

    Example
    -------
    >>> d, k = parcel_sample("val", 3)
    >>> d.shape, d.dtype
    ((64, 64), dtype('float32'))
    """
    _check_split(split)
    _check_seed(seed)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < SPLITS[split]:
        raise ValueError(f"index should be an int in [0, {SPLITS[split]}) for the {split!r} split, got {index!r}.")
    return render_parcel(_sample_seed(split, index, seed))


def default_cache_dir():
    """The cache directory: ``$PARCEL_DATA_DIR`` if set, else ``~/.cache/parcel-course``."""
    env = os.environ.get("PARCEL_DATA_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/parcel-course").expanduser()


def cache_file(cache_dir, split, seed):
    """Where :func:`load_parcels` caches ``split`` of seed ``seed`` under ``cache_dir``.

    Example
    -------
    >>> cache_file("/cache", "train", 0).name
    'train.npz'
    """
    return Path(cache_dir) / f"parcels-v{GENERATOR_VERSION}-{IMAGE_SIZE}px-seed{seed}" / f"{split}.npz"


def _atomic_savez(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)      # atomic: readers see the old file or the whole new one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_parcels(split, seed=0, cache_dir=None, progress=True):
    """Load a split of the parcel dataset, generating and caching it on first use.

    Parameters
    ----------
    split : {"train", "val", "test"}
        Which fixed split (sizes in ``SPLITS``).
    seed : int, default 0
        The dataset seed; 0 is the course's dataset.
    cache_dir : str or Path, optional
        Where to cache; default ``$PARCEL_DATA_DIR`` or ``~/.cache/parcel-course``.
        The file is written atomically, so concurrent first calls are safe.
    progress : bool, default True
        Show a progress bar while generating.

    Returns
    -------
    X : ndarray (N, 64, 64) float32
        Depth maps in mm above the belt, 0 = no measurement.
    y : ndarray (N,) int64
        Class indices.
    class_names : tuple of str
        ``CLASS_NAMES``; ``class_names[y[i]]`` is the name of map ``i``.

    Example
    -------
    >>> X, y, names = load_parcels("test")   # doctest: +SKIP
    >>> X.shape                              # doctest: +SKIP
    (1500, 64, 64)
    """
    _check_split(split)
    _check_seed(seed)
    path = cache_file(cache_dir if cache_dir is not None else default_cache_dir(), split, int(seed))
    if path.exists():
        try:
            with np.load(path) as z:
                units, y = z["units"], z["y"]
            if units.shape == (SPLITS[split], _N, _N) and y.shape == (SPLITS[split],):
                return _from_units(units), y.astype(np.int64), CLASS_NAMES
        except Exception:          # a damaged cache file: regenerate it
            pass
    X, y = generate_parcels(split, seed=int(seed), progress=progress)
    units = np.rint(X * 10).astype(np.uint16)
    try:
        _atomic_savez(path, units=units, y=y)
    except OSError as exc:          # a read-only cache must not lose the generated data
        warnings.warn(f"could not write the parcel cache at {path} ({exc}); set PARCEL_DATA_DIR "
                      "to a writable directory to keep it.", stacklevel=2)
    return X, y, CLASS_NAMES


def export_image_folders(split, out_dir, seed=0, cache_dir=None, progress=True):
    """Write a split as class-named folders of 16-bit grey PNGs.

    The layout ``out_dir/<class_name>/<split>_<index>.png`` is what
    ``keras.utils.image_dataset_from_directory(out_dir)`` reads.  Pixel values
    are heights in units of ``PNG_MM_PER_UNIT = 0.01`` mm (65535 = 655.35 mm),
    so the PNGs hold the maps exactly.  Note that Keras decodes PNGs to 8 bits
    by default (value / 257, i.e. about 2.57 mm per grey level); read them at
    full precision with :func:`read_png_depth`.

    Parameters
    ----------
    split : {"train", "val", "test"}
    out_dir : str or Path
        Created if needed; existing files of the same names are replaced.
    seed, cache_dir, progress
        As in :func:`load_parcels`.

    Returns
    -------
    Path
        ``out_dir``.

    Example
    -------
    >>> export_image_folders("val", "/tmp/parcels/val")   # doctest: +SKIP
    """
    from PIL import Image   # Pillow: heavy
    X, y, names = load_parcels(split, seed=seed, cache_dir=cache_dir, progress=progress)
    out = Path(out_dir)
    for name in names:
        (out / name).mkdir(parents=True, exist_ok=True)
    it = range(len(X))
    if progress:
        it = progress_bar(it, desc=f"exporting {split}", unit="png", mininterval=0.5)
    for i in it:
        units = np.rint(X[i].astype(np.float64) / PNG_MM_PER_UNIT).astype(np.uint16)
        Image.fromarray(units).save(out / names[y[i]] / f"{split}_{i:05d}.png")
    return out


def read_png_depth(path):
    """Read a PNG written by :func:`export_image_folders` back to float32 mm.

    Example
    -------
    >>> d = read_png_depth("/tmp/parcels/val/box/val_00003.png")   # doctest: +SKIP
    """
    from PIL import Image   # Pillow: heavy
    units = np.asarray(Image.open(path)).astype(np.uint16)
    if units.ndim != 2:
        raise ValueError(f"path should name a single-channel 16-bit PNG written by export_image_folders, got shape {units.shape}.")
    # 0.01 mm units -> 0.1 mm units exactly (maps are quantised to 0.1 mm), then the shared conversion.
    return _from_units(np.rint(units / 10).astype(np.uint16))


def stratified_subset(y, fraction, seed, num_classes=None):
    """Indices (sorted) of a class-stratified random subset: ``fraction`` of each class, at least one map.

    ``num_classes`` defaults to ``max(y) + 1``.  04_cnn's small experiments
    use it (10 % of the training and validation splits); the grader draws
    the same subset to check a model that was validated on it.

    >>> stratified_subset(np.array([0, 0, 0, 0, 1, 1]), 0.5, seed=0).tolist()
    [0, 2, 5]
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    k_max = int(y.max()) + 1 if num_classes is None else int(num_classes)
    keep = [rng.permutation(np.flatnonzero(y == k))[: max(1, round(fraction * np.sum(y == k)))] for k in range(k_max)]
    return np.sort(np.concatenate(keep))


def load_features(split, seed=0):
    """The hand-crafted features of a split of the course's dataset, as shipped with the package.

    Row ``i`` describes ``load_parcels(split)[0][i]``; the columns are
    ``FEATURE_NAMES`` (mm, mm², fractions).  The values are stored as float32
    (``FEATURES_FILE``) and returned as float64, so that every scikit-learn
    estimator sees the same numbers.  Only the course's dataset (``seed=0``)
    is shipped.

    Parameters
    ----------
    split : {"train", "val", "test"}
    seed : int, default 0
        The dataset seed; only 0 has a feature table.

    Returns
    -------
    ndarray (SPLITS[split], len(FEATURE_NAMES)) float64

    Example
    -------
    >>> F = load_features("val")
    >>> F.shape, F.dtype
    ((1000, 20), dtype('float64'))
    """
    _check_split(split)
    _check_seed(seed)
    if int(seed) != 0:
        raise ValueError(f"seed should be 0: the package ships the features of the course's dataset only, "
                         f"got seed={seed!r}.")
    if not FEATURES_FILE.is_file():
        raise FileNotFoundError(f"the feature table {FEATURES_FILE.name} is missing from the installed package "
                                f"({FEATURES_FILE.parent}): reinstall parcel_utils.")
    with np.load(FEATURES_FILE, allow_pickle=False) as z:
        names, version, F = tuple(str(n) for n in z["feature_names"]), int(z["generator_version"]), z[split]
    if names != FEATURE_NAMES or version != GENERATOR_VERSION or F.shape != (SPLITS[split], len(FEATURE_NAMES)):
        raise ValueError(f"the feature table {FEATURES_FILE.name} does not match this version of the dataset "
                         f"(generator {version}, {F.shape}; expected generator {GENERATOR_VERSION}, "
                         f"{(SPLITS[split], len(FEATURE_NAMES))}): reinstall parcel_utils.")
    return F.astype(np.float64)
