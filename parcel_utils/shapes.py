"""Depth maps of known geometry: the shapes the tests of 03_handcrafted draw.

A 40 x 20 px rectangle 100 mm high, a disc, a rotated rectangle, and the
same with dropout (interior pixels that return nothing, as the sensor's
do).  Their areas, perimeters and sides are known from their geometry, so
the visible tests of the notebook, the course's own tests and the grader's
cases use them.  They are test fixtures: they compute no exercise's answer.

All maps are float32 arrays (``size``, ``size``) in mm, 0 where nothing is
measured, like the dataset's maps (:func:`parcel_utils.data.load_parcels`).

Examples
--------
>>> from parcel_utils.shapes import rectangle, with_dropout
>>> d = with_dropout(rectangle(), seed=1)
>>> d.shape, d.dtype.name, float(d.max())
((64, 64), 'float32', 100.0)
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["rectangle", "disc", "rotated_rectangle", "with_dropout"]


def rectangle(h=100.0, rows=20, cols=40, at=(10, 5), size=64):
    """An axis-aligned rectangle of constant height.

    Parameters
    ----------
    h : float, optional
        Its height in mm.
    rows, cols : int, optional
        Its size in pixels (rows down, columns across): 20 x 40 by default.
    at : tuple of int, optional
        ``(row, col)`` of its top-left pixel.
    size : int, optional
        The map is ``size`` x ``size`` pixels.

    Returns
    -------
    numpy.ndarray
        float32 (``size``, ``size``): ``h`` on the rectangle, 0 elsewhere.

    Examples
    --------
    >>> d = rectangle()
    >>> int((d > 0).sum()), float(d.max())
    (800, 100.0)
    """
    d = np.zeros((size, size), np.float32)
    d[at[0]:at[0] + rows, at[1]:at[1] + cols] = h
    return d


def disc(radius=15.0, h=50.0, centre=(32, 32), size=64):
    """A disc of constant height: the pixels within ``radius`` of ``centre``.

    Parameters
    ----------
    radius : float, optional
        Its radius in pixels.
    h : float, optional
        Its height in mm.
    centre : tuple of int, optional
        ``(row, col)`` of its centre.
    size : int, optional
        The map is ``size`` x ``size`` pixels.

    Returns
    -------
    numpy.ndarray
        float32 (``size``, ``size``): ``h`` on the disc, 0 elsewhere.

    Examples
    --------
    >>> d = disc()
    >>> int((d > 0).sum()), float(d[32, 32]), float(d[32, 48])
    (709, 50.0, 0.0)
    """
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.zeros((size, size), np.float32)
    d[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2] = h
    return d


def rotated_rectangle(length=40, width=20, degrees=30.0, h=80.0, size=64):
    """A rectangle of constant height centred in the map and rotated by ``degrees``.

    Parameters
    ----------
    length, width : float, optional
        Its sides in pixels (``length`` along the rotated x axis).
    degrees : float, optional
        Its rotation in degrees.
    h : float, optional
        Its height in mm.
    size : int, optional
        The map is ``size`` x ``size`` pixels.

    Returns
    -------
    numpy.ndarray
        float32 (``size``, ``size``): ``h`` on the pixels whose centre lies in
        the rectangle, 0 elsewhere.

    Examples
    --------
    >>> d = rotated_rectangle(degrees=0.0)
    >>> int((d > 0).sum()), float(d.max())
    (800, 80.0)
    """
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    t = np.deg2rad(degrees)
    u, v = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
    d = np.zeros((size, size), np.float32)
    d[(np.abs(u) < length / 2) & (np.abs(v) < width / 2)] = h
    return d


def with_dropout(d, rate=0.06, seed=0):
    """Zero a fraction of the interior pixels (not the outline), as the sensor does.

    Parameters
    ----------
    d : numpy.ndarray
        A depth map; it is not changed.
    rate : float, optional
        The chance that an interior pixel (one whose 8 neighbours are all
        measured) returns nothing.
    seed : int, optional
        The seed of the random generator: the same seed, the same pixels.

    Returns
    -------
    numpy.ndarray
        A copy of ``d`` with the dropped pixels set to 0.

    Examples
    --------
    >>> d = with_dropout(rectangle(), seed=1)
    >>> int((d > 0).sum()) < 800, bool((d[10] > 0).sum() == 40)
    (True, True)
    """
    rng = np.random.default_rng(seed)
    interior = ndimage.binary_erosion(d > 0, structure=np.ones((3, 3)))
    out = d.copy()
    out[interior & (rng.random(d.shape) < rate)] = 0
    return out
