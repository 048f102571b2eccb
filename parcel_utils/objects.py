"""Everyday objects on a belt: the source task the course backbone is pretrained on.

A pretraining corpus, in the lecture's sense: ImageNet teaches generic edge,
surface and texture features because it holds a thousand kinds of things,
cartons, bags and cylinders among them.  This module renders depth maps of
scenes of **sixteen kinds of everyday and industrial objects** (cartons with
flaps and tape, open trays, rigid slabs, soft wrinkled sheets, sacks,
pillows, standing cans, lying logs and bottles, balls, lids with a rim,
tyres, wedges, stacks of slabs, bundles of pipes, folded cloth, jars), one
to four per scene, touching or apart, seen by the parcel sensor.

Each map has three labels, none of them a parcel class nor a function of
one: the **kind** of the largest object (16 classes), the **count** of
objects (1-4) and the **thickness** of the largest object (4 bins of its
height).  The scenes come from this module's own generator and seeds, never
from :mod:`parcel_utils.data`'s class-conditional parcel code or its splits;
only the sensor model (:func:`parcel_utils.data._sensor`: noise, belt tilt,
occlusion shadows, flying pixels, missing returns, 4 mm belt threshold) is
shared, as a real pretraining set would be recorded by the same kind of
sensor.  See ``weights/MODEL_CARD.md``.

Example
-------
>>> X, labels = make_object_scenes(3, seed=0)
>>> X.shape, sorted(labels)
((3, 64, 64), ['count', 'kind', 'thickness'])
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import data

__all__ = ["OBJECT_KINDS", "MAX_OBJECTS", "THICKNESS_BINS_MM", "make_object_scenes", "render_object_scene"]

#: The kinds of objects, in label order.
OBJECT_KINDS = (
    "carton", "tray", "slab", "sheet", "sack", "pillow", "can", "log",
    "ball", "lid", "tyre", "wedge", "stack", "bundle", "folded", "jar",
)
#: A scene holds 1 to MAX_OBJECTS objects (label ``count`` = number - 1).
MAX_OBJECTS = 4
#: Edges (mm) of the thickness bins of the largest object's height (label ``thickness``).
THICKNESS_BINS_MM = (30.0, 80.0, 160.0)

# the parcel maps' grid: pixel centres in mm, and the whole field as the sensor's window
_N, _PIXEL_MM, _FIELD = data.IMAGE_SIZE, data.PIXEL_MM, data._FIELD
_X, _Y = data._C[None, :], data._C[:, None]
_WINDOW = data._Window((0.0, 0.0), (_FIELD, _FIELD))
_ROUND = frozenset({"can", "ball", "lid", "tyre", "jar"})


def _logu(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _params(rng, kind, scale):
    """Half sizes a >= b (mm), height h (mm) and the kind's own knobs."""
    p = {"kind": kind, "theta": rng.uniform(0, np.pi)}
    if kind in _ROUND:
        r = rng.uniform(35, 140) * scale
        p["a"] = p["b"] = r
    elif kind in ("log", "bundle"):
        p["a"] = rng.uniform(90, 230) * scale
        p["b"] = rng.uniform(25, 85) * scale
    else:
        p["a"] = rng.uniform(60, 220) * scale
        p["b"] = p["a"] * rng.uniform(0.3, 1.0)
    h = {"carton": (30, 320), "tray": (40, 220), "slab": (6, 60), "sheet": (2, 25), "sack": (40, 260),
         "pillow": (40, 200), "can": (40, 320), "log": None, "ball": None, "lid": (8, 60), "tyre": None,
         "wedge": (20, 260), "stack": (20, 250), "bundle": None, "folded": (6, 70), "jar": (60, 300)}[kind]
    if kind == "log":
        p["h"] = 2 * p["b"]
    elif kind == "bundle":
        p["pipes"] = int(rng.integers(2, 6))
        p["h"] = 2 * p["b"] / p["pipes"]
    elif kind == "ball":
        p["h"] = p["a"] * rng.uniform(0.6, 1.0)
    elif kind == "tyre":
        p["h"] = p["a"] * rng.uniform(0.2, 0.45)
    else:
        p["h"] = _logu(rng, *h)
    return p


def _frame(p, cx, cy):
    c, s = np.cos(p["theta"]), np.sin(p["theta"])
    dx, dy = _X - cx, _Y - cy
    return dx * c + dy * s, -dx * s + dy * c


def _rrect(u, v, a, b, rc):
    qx, qy = np.abs(u) - (a - rc), np.abs(v) - (b - rc)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rc


def _waves(rng, u, v, n, lo, hi):
    w = np.zeros(u.shape)
    for _ in range(n):
        d, lam, ph = rng.uniform(0, np.pi), rng.uniform(lo, hi), rng.uniform(0, 2 * np.pi)
        w += np.sin(2 * np.pi / lam * (np.cos(d) * u + np.sin(d) * v) + ph)
    return w / np.sqrt(n)


class _Outline(NamedTuple):
    """One object's own coordinates on the whole field (mm) and its sizes."""

    u: np.ndarray            # along its length
    v: np.ndarray            # across it
    r: np.ndarray            # distance from its centre
    a: float                 # half length
    b: float                 # half width
    h: float                 # height


def _shape(rng, p, cx, cy):
    """(height, f) of one object on the whole field: f < 0 inside (mm, distance-like)."""
    u, v = _frame(p, cx, cy)
    a, b, h, kind = p["a"], p["b"], p["h"], p["kind"]
    o = _Outline(u, v, np.hypot(u, v), a, b, h)
    draw = _SHAPES.get(kind)
    if draw is None:
        raise ValueError(f"unknown kind {kind!r}")
    return draw(rng, p, o)


def _carton(rng, p, o):
    """A carton: a flat top, maybe a groove where the flaps meet and tape over it or across."""
    u, v, a, b, h = o.u, o.v, o.a, o.b, o.h
    f = _rrect(u, v, a, b, rng.uniform(0, 0.1) * b)
    top = h + rng.uniform(-0.06, 0.08) * h * np.clip(1 - (u / a) ** 2, 0, 1) * np.clip(1 - (v / b) ** 2, 0, 1)
    if rng.random() < 0.6:                     # the flaps meet along the middle: a groove
        top = top - np.where(np.abs(v) < rng.uniform(2, 6), rng.uniform(3, 10), 0.0)
    if rng.random() < 0.6:                     # tape over the groove or across
        across = rng.random() < 0.5
        t = np.abs(u if across else v)
        top = top + np.where(t < rng.uniform(20, 40), rng.uniform(0.8, 2.5), 0.0)
    return top, f


def _tray(rng, p, o):
    """An open crate: a rim around a lower floor."""
    f = _rrect(o.u, o.v, o.a, o.b, rng.uniform(0, 0.2) * o.b)
    wall = rng.uniform(10, 25)
    return np.where(f < -wall, o.h * rng.uniform(0.05, 0.5), o.h), f


def _slab(rng, p, o):
    """A book, a board: rigid, sharp edges, maybe warped."""
    f = _rrect(o.u, o.v, o.a, o.b, 0.0)
    return o.h + rng.uniform(-3, 3) * (o.u / o.a) ** 2, f


def _sheet(rng, p, o):
    """Soft cloth or paper: an irregular outline, wrinkles."""
    u, v, a, b = o.u, o.v, o.a, o.b
    phi = np.arctan2(v / b, u / a)
    rho = np.hypot(u / a, v / b) / (1 + sum(rng.uniform(0, 0.2) / k * np.cos(k * phi + rng.uniform(0, 6.3))
                                            for k in (2, 3, 5)))
    f = (rho - 1) * b
    return o.h + rng.uniform(1, 8) * _waves(rng, u, v, 4, 15, 60), f


def _sack(rng, p, o):
    """A deformable bag: lumps, wrinkles, a soft outline."""
    u, v, a, b = o.u, o.v, o.a, o.b
    z = np.zeros(u.shape)
    for _ in range(int(rng.integers(2, 5))):
        mu, mv = rng.uniform(-0.5, 0.5) * a, rng.uniform(-0.5, 0.5) * b
        su, sv = rng.uniform(0.35, 0.7) * a, rng.uniform(0.35, 0.7) * b
        z = np.maximum(z, np.exp(-0.5 * (((u - mu) / su) ** 2 + ((v - mv) / sv) ** 2)))
    f = (0.25 - z) * b
    return o.h * np.sqrt(np.clip(z - 0.25, 0, None) / 0.75) + rng.uniform(2, 7) * _waves(rng, u, v, 3, 20, 70), f


def _pillow(rng, p, o):
    """A smooth rounded dome on a rounded rectangle."""
    f = _rrect(o.u, o.v, o.a, o.b, rng.uniform(0.3, 0.9) * o.b)
    s = np.clip(-f / (rng.uniform(0.3, 0.8) * o.b), 0, 1)
    return o.h * np.sqrt(s * (2 - s)), f


def _can(rng, p, o):
    """A standing cylinder: a flat top with a rolled rim."""
    f = o.r - o.a
    return o.h + np.where(f > -rng.uniform(4, 9), rng.uniform(2, 5), 0.0), f


def _log(rng, p, o):
    """A lying cylinder, maybe a bottle's neck at one end."""
    u, v, a, b = o.u, o.v, o.a, o.b
    neck = rng.random() < 0.5
    R = np.where(neck & (u > 0.55 * a), b * rng.uniform(0.3, 0.5), b)
    f = np.maximum(np.abs(u) - a, np.abs(v) - R)
    return R + np.sqrt(np.clip(R * R - v * v, 0, None)) - (b - R), f


def _ball(rng, p, o):
    """A ball: a dome on a disc."""
    f = o.r - o.a
    return o.h * np.sqrt(np.clip(1 - (o.r / o.a) ** 2, 0, None)), f


def _lid(rng, p, o):
    """A shallow round lid: a raised rim, a lower centre."""
    f = o.r - o.a
    return np.where(f > -rng.uniform(8, 20), o.h, o.h * rng.uniform(0.3, 0.7)), f


def _tyre(rng, p, o):
    """A tyre: a torus."""
    r, a = o.r, o.a
    t = rng.uniform(0.22, 0.4) * a
    f = np.abs(r - (a - t)) - t
    return o.h * np.sqrt(np.clip(1 - ((r - (a - t)) / t) ** 2, 0, None)), f


def _wedge(rng, p, o):
    """A ramp: the top slopes along the length."""
    f = _rrect(o.u, o.v, o.a, o.b, 0.0)
    return o.h * (rng.uniform(0.1, 0.6) + (o.u + o.a) / (2 * o.a)) / 1.6, f


def _stack(rng, p, o):
    """2-3 slabs, each smaller than the one below."""
    u, v, a, b, h = o.u, o.v, o.a, o.b, o.h
    f = _rrect(u, v, a, b, 0.0)
    top = np.full(u.shape, h * 0.4)
    for k in range(1, int(rng.integers(2, 4))):
        sh = rng.uniform(0.55, 0.85) ** k
        fk = _rrect(u - rng.uniform(-0.2, 0.2) * a, v, a * sh, b * sh, 0.0)
        top = np.where(fk < 0, h * (0.4 + 0.3 * k), top)
    return top, f


def _bundle(rng, p, o):
    """Parallel pipes side by side."""
    u, v, a, b = o.u, o.v, o.a, o.b
    k = p["pipes"]
    R = b / k
    w = v + b - R
    c = np.clip(np.rint(w / (2 * R)), 0, k - 1)
    d = w - c * 2 * R
    f = np.maximum(np.abs(u) - a, np.abs(v) - b)
    return R + np.sqrt(np.clip(R * R - d * d, 0, None)), f


def _folded(rng, p, o):
    """Folded cloth: layers stepping up across the fold lines."""
    u, v, a, b = o.u, o.v, o.a, o.b
    f = _rrect(u, v, a, b, rng.uniform(0, 0.3) * b)
    folds = np.sort(rng.uniform(-0.8, 0.8, int(rng.integers(1, 4)))) * a
    layers = 1 + (u[..., None] > folds).sum(-1)
    return o.h * layers / (len(folds) + 1) + rng.uniform(0.5, 3) * _waves(rng, u, v, 2, 10, 40), f


def _jar(rng, p, o):
    """A cylinder with a smaller lid on top."""
    f = o.r - o.a
    return np.where(o.r < o.a * rng.uniform(0.55, 0.8), o.h, o.h * rng.uniform(0.75, 0.92)), f


#: kind -> the function that draws it: ``(rng, params, outline) -> (height, f)``.
_SHAPES = {"carton": _carton, "tray": _tray, "slab": _slab, "sheet": _sheet, "sack": _sack, "pillow": _pillow,
           "can": _can, "log": _log, "ball": _ball, "lid": _lid, "tyre": _tyre, "wedge": _wedge,
           "stack": _stack, "bundle": _bundle, "folded": _folded, "jar": _jar}


def _ray(p, dv):
    c, s = np.cos(p["theta"]), np.sin(p["theta"])
    du, dw = abs(dv[0] * c + dv[1] * s), abs(-dv[0] * s + dv[1] * c)
    if p["kind"] in _ROUND:
        return p["a"]
    return min(p["a"] / max(du, 1e-9), p["b"] / max(dw, 1e-9))


def _scene(rng, n_obj):
    """True heights (mm) of a scene of ``n_obj`` objects; labels of the largest."""
    kinds = rng.integers(0, len(OBJECT_KINDS), n_obj)
    scale = 1.0 if n_obj == 1 else rng.uniform(0.5, 0.85)
    objs = [_params(rng, OBJECT_KINDS[k], scale) for k in kinds]
    area = [o["a"] * o["b"] for o in objs]
    order = np.argsort(area)[::-1]
    objs = [objs[i] for i in order]                # the largest first
    touching = rng.random() < 0.7
    centres = [np.zeros(2)]
    for i in range(1, n_obj):
        j = int(rng.integers(0, i))                # next to one already placed
        d = rng.uniform(0, 2 * np.pi)
        dv = np.array([np.cos(d), np.sin(d)])
        gap = rng.uniform(0.9, 1.0) if touching else rng.uniform(1.1, 1.5)
        centres.append(centres[j] + dv * (_ray(objs[j], dv) + _ray(objs[i], dv)) * gap)
    centres = np.array(centres)
    ext = np.array([[o["a"], o["a"]] for o in objs])
    lo, hi = (centres - ext).min(0), (centres + ext).max(0)
    shrink = min(1.0, 0.98 * _FIELD / max((hi - lo).max(), 1e-9))
    if shrink < 1:
        for o in objs:
            o["a"], o["b"] = o["a"] * shrink, o["b"] * shrink
        centres, lo, hi = centres * shrink, lo * shrink, hi * shrink
    centres += rng.uniform(0, 1, 2) * np.maximum(_FIELD - (hi - lo), 0) - lo
    top = np.zeros((_N, _N))
    fs = []
    for o, c in zip(objs, centres):
        h, f = _shape(rng, o, c[0], c[1])
        if not fs:                                 # the largest object's own height
            peak = float(h[f < 0].max()) if (f < 0).any() else o["h"]
        top = np.where(f < 0, np.maximum(top, h), top)
        fs.append(f)
    if n_obj > 1 and touching and rng.random() < 0.5:     # where two objects meet, the surface dips
        fs = np.sort(np.stack(fs), axis=0)
        seam = (fs[0] < 0) & (fs[1] > -1.2 * _PIXEL_MM) & (fs[1] < 0.6 * _PIXEL_MM)
        top = np.where(seam, top * rng.uniform(0.0, 0.7), top)
    return top, OBJECT_KINDS.index(objs[0]["kind"]), int(np.searchsorted(THICKNESS_BINS_MM, peak))


def render_object_scene(seed_seq, n_objects):
    """One scene of ``n_objects`` objects through the parcel sensor: (depth mm float32, kind, thickness)."""
    rng = np.random.default_rng(seed_seq)
    top, kind, thick = _scene(rng, n_objects)
    lab = None
    if rng.random() < 0.25:                                   # a glossy or raised label somewhere on top
        cx, cy = rng.uniform(100, _FIELD - 100, 2)
        lab = (np.abs(_X - cx) < rng.uniform(20, 45)) & (np.abs(_Y - cy) < rng.uniform(15, 35)) & (top > 5)
    m = data._sensor(data._Draws(rng), _WINDOW, top, lab, bool(rng.random() < 0.5))
    return data._quantise(m), kind, thick


def make_object_scenes(n, seed=None):
    """``n`` scenes of everyday objects on the belt, with their three labels.

    Parameters
    ----------
    n : int
        Number of maps.
    seed : int or None
        The same seed gives the same maps bit for bit.

    Returns
    -------
    X : ndarray (n, 64, 64) float32
        Heights in mm above the belt, 0 where nothing is measured.
    labels : dict of ndarray (n,) int64
        ``"kind"``: index into :data:`OBJECT_KINDS` of the largest object;
        ``"count"``: number of objects - 1 (0 .. MAX_OBJECTS - 1);
        ``"thickness"``: bin of the largest object's height (edges :data:`THICKNESS_BINS_MM`).

    Example
    -------
    >>> X, lab = make_object_scenes(4, seed=1)
    >>> X.dtype, bool(((X == 0) | (X >= 4)).all()), bool(lab["count"].max() < MAX_OBJECTS)
    (dtype('float32'), True, True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"`n` should be an integer >= 0, got {n!r}.")
    master = np.random.default_rng(seed)
    counts = master.integers(0, MAX_OBJECTS, n)
    seeds = master.integers(0, 2 ** 63 - 1, n)
    X = np.empty((n, _N, _N), np.float32)
    kind = np.empty(n, np.int64)
    thick = np.empty(n, np.int64)
    for i in range(n):
        X[i], kind[i], thick[i] = render_object_scene(int(seeds[i]), int(counts[i]) + 1)
    return X, {"kind": kind, "count": counts.astype(np.int64), "thickness": thick}
