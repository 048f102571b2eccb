"""Every figure a notebook of the parcel course shows (the instructor's report plots: ``parcel_course.report_plots``).

Each function draws one figure with matplotlib and returns the
``matplotlib.figure.Figure`` (it does not call ``plt.show()``; in a notebook
end the line with ``;`` so that the figure is not shown twice).  Functions are
grouped by the assignment that introduced them; append new ones at the end.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


# --------------------------------------------------------------------------- 01_convolution
def _annotate_small(ax, values, fmt="{:.2g}"):
    """Write the value of every cell of a small matrix on it."""
    values = np.asarray(values)
    if values.ndim != 2 or values.size > 81:
        return
    mid = (np.nanmax(values) + np.nanmin(values)) / 2
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="white" if v < mid else "black")


def plot_image_row(images, titles=None, cmap="viridis", colorbar=True, suptitle=None,
                   annotate=False, size=3.2):
    """Show 2-D arrays side by side, each with its own colour scale.

    Parameters
    ----------
    images : sequence of array_like, each (H, W)
    titles : sequence of str, optional
    cmap : str or sequence of str
        One colour map for all, or one per image.
    colorbar : bool
    suptitle : str, optional
    annotate : bool
        Write the values on images of at most 9x9 samples (filters, toy inputs).
    size : float
        Width of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import numpy as np
    >>> fig = plot_image_row([np.eye(3), np.ones((4, 4))], titles=["I", "ones"], annotate=True)
    >>> len(fig.axes)
    4
    """
    images = [np.asarray(im) for im in images]
    if not images or any(im.ndim != 2 for im in images):
        raise ValueError("`images` should be a non-empty sequence of 2-D arrays.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"`titles` should have one title per image ({len(images)}), got {len(titles)}.")
    cmaps = [cmap] * len(images) if isinstance(cmap, str) else list(cmap)
    if len(cmaps) != len(images):
        raise ValueError(f"`cmap` should be one name or one per image ({len(images)}), got {len(cmaps)}.")
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size * 0.95), squeeze=False)
    for i, (ax, im) in enumerate(zip(axes[0], images)):
        shown = ax.imshow(im, cmap=cmaps[i], interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if annotate:
            _annotate_small(ax, im)
        if colorbar:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_filter_response(image, kernel, response, titles=("input", "filter", "output"), cmap="viridis",
                         response_cmap=None):
    """Input, filter (values written on it) and the filtered output, side by side.

    ``response_cmap`` defaults to ``cmap``; give a diverging one (``"RdBu_r"``)
    for a signed output such as a derivative.

    Example
    -------
    >>> import numpy as np
    >>> fig = plot_filter_response(np.eye(5), np.ones((3, 3)) / 9, np.eye(3) / 3)
    >>> len(fig.axes)
    6
    """
    fig = plot_image_row([image, kernel, response], titles=list(titles),
                         cmap=[cmap, "RdBu_r", response_cmap or cmap])
    k = np.asarray(kernel, dtype=float)
    lim = float(np.abs(k).max()) or 1.0
    ax = fig.axes[1]
    ax.images[0].set_clim(-lim, lim)          # zero is white: the sign of every weight reads at once
    if k.size <= 81:
        for (i, j), v in np.ndenumerate(k):
            ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * lim else "black")
    return fig


def _padding_widths(kernel_size, mode):
    """Rows and columns the figure adds around the image: ((top, bottom), (left, right))."""
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    widths = []
    for k in (int(kh), int(kw)):
        if mode == "valid":
            widths.append((0, 0))
        elif mode == "full":
            widths.append((k - 1, k - 1))
        elif mode in ("same", "symmetric"):
            widths.append(((k - 1) // 2, k // 2))
        elif isinstance(mode, (int, np.integer)) and not isinstance(mode, bool) and mode >= 0:
            widths.append((int(mode), int(mode)))
        else:
            raise ValueError(f"`modes` should hold 'valid', 'same', 'full', 'symmetric' or ints >= 0, got {mode!r}.")
    return tuple(widths)


def plot_padding_modes(image, kernel_size, modes=("valid", "same", "full", "symmetric"), cmap="viridis"):
    """The image padded with each mode; a red frame marks the original image.

    Parameters
    ----------
    image : array_like, shape (H, W)
    kernel_size : int or (int, int)
        The filter the padding is made for.
    modes : sequence of {'valid', 'same', 'full', 'symmetric'} or int
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import numpy as np
    >>> fig = plot_padding_modes(np.arange(16.0).reshape(4, 4), 3)
    >>> [ax.get_title().split()[0] for ax in fig.axes[:4]]
    ["'valid'", "'same'", "'full'", "'symmetric'"]
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` should be a 2-D array (H, W), got shape {image.shape}.")
    vmin, vmax = float(np.min(image)), float(np.max(image))
    vmin = min(vmin, 0.0)
    fig, axes = plt.subplots(1, len(modes), figsize=(3.2 * len(modes), 3.4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        (t, b), (l, r) = _padding_widths(kernel_size, mode)
        padded = np.pad(image, ((t, b), (l, r)), mode="symmetric" if mode == "symmetric" else "constant")
        ax.imshow(padded, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.add_patch(Rectangle((l - 0.5, t - 0.5), image.shape[1], image.shape[0],
                               fill=False, edgecolor="red", linewidth=1.5))
        ax.set_title(f"{mode!r} {padded.shape[0]}x{padded.shape[1]}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if padded.size <= 144:
            _annotate_small(ax, padded, "{:.3g}")
    fig.tight_layout()
    return fig


def plot_activations(functions, x=None, ylim=(-1.5, 3)):
    """Curves of scalar activation functions on one axis.

    Parameters
    ----------
    functions : dict of str to callable
        Label -> function of a NumPy array.  A label starting with ``'~'`` is
        drawn dashed (the tilde is dropped).
    x : array_like, optional
        Where to evaluate them; default 401 points in [-4, 4].
    ylim : (float, float)

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import numpy as np
    >>> fig = plot_activations({"relu": lambda x: np.maximum(x, 0), "~identity": lambda x: x})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['relu', 'identity']
    """
    x = np.linspace(-4, 4, 401) if x is None else np.asarray(x, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, fn in functions.items():
        dashed = label.startswith("~")
        ax.plot(x, fn(x), "--" if dashed else "-", label=label.lstrip("~"), linewidth=1.8)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 03_handcrafted
def _depth_limits(X):
    X = np.asarray(X)
    m = X[X > 0]
    return 0.0, float(np.percentile(m, 99.5)) if m.size else 1.0


def plot_parcel_examples(X, y, class_names, per_class=4, seed=0, vmax=None, size=2.0):
    """Depth maps of each class: one row per class, one shared colour bar in mm.

    Parameters
    ----------
    X : array (N, H, W)
        Depth maps in mm (0 = no measurement, drawn black).
    y : array (N,) int
    class_names : sequence of str
    per_class : int
        Maps per row (fewer if a class has fewer).
    seed : int
        Which maps are picked (at random within each class).
    vmax : float, optional
        Top of the colour scale in mm; default the 99.5th percentile.
    size : float
        Side of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> X = np.zeros((4, 8, 8)); X[:, 2:6, 2:6] = 50.0
    >>> fig = plot_parcel_examples(X, np.array([0, 0, 1, 1]), ["a", "b"], per_class=2)
    >>> len(fig.axes)
    5
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 3 or len(X) != len(y):
        raise ValueError(f"X should be (N, H, W) with one label in y per map; got X {X.shape}, y {y.shape}.")
    rng = np.random.default_rng(seed)
    lo, hi = _depth_limits(X) if vmax is None else (0.0, vmax)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("black")
    n = len(class_names)
    fig, axes = plt.subplots(n, per_class, figsize=(size * per_class + 1.0, size * n), squeeze=False)
    im = None
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(y == k)
        pick = rng.choice(idx, size=min(per_class, idx.size), replace=False) if idx.size else []
        for j in range(per_class):
            ax = axes[k, j]
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(pick):
                im = ax.imshow(np.where(X[pick[j]] > 0, X[pick[j]], -1), cmap=cmap, vmin=max(lo, 1e-3), vmax=hi)
                ax.set_title(f"#{pick[j]}  max {X[pick[j]].max():.0f} mm", fontsize=8)
            else:
                ax.axis("off")
        axes[k, 0].set_ylabel(name, fontsize=11)
    if im is not None:
        fig.colorbar(im, ax=axes, fraction=0.03, pad=0.02, label="height above the belt (mm)")
    return fig


def plot_depth_surface(depth, pixel_mm=8.0, title=None, elev=35, azim=-60, crop=True):
    """One depth map as a 3D surface (x, y in mm, height in mm); missing pixels are not drawn.

    Parameters
    ----------
    depth : array (H, W)
    pixel_mm : float
    title : str, optional
    elev, azim : float
        The point of view (degrees).
    crop : bool
        Show only the measured region and a margin of 2 pixels.

    Example
    -------
    >>> d = np.zeros((16, 16)); d[4:12, 4:12] = 30.0
    >>> fig = plot_depth_surface(d, title="a box")
    """
    d = np.asarray(depth, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"depth should be one depth map (H, W), got shape {d.shape}.")
    yy, xx = np.mgrid[0:d.shape[0], 0:d.shape[1]] * pixel_mm
    if crop and (d > 0).any():
        r, c = np.nonzero(d > 0)
        sl = (slice(max(r.min() - 2, 0), r.max() + 3), slice(max(c.min() - 2, 0), c.max() + 3))
        d, yy, xx = d[sl], yy[sl], xx[sl]
    z = np.where(d > 0, d, np.nan)
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig = plt.figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    surf = ax.plot_surface(xx, yy, z, cmap="viridis", vmin=0, vmax=top,
                           linewidth=0, antialiased=False, rstride=1, cstride=1)
    ax.set_zlim(0, top * 1.05)
    ax.set_xlabel("x (mm)"), ax.set_ylabel("y (mm)")
    ax.view_init(elev=elev, azim=azim)
    fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.08, label="height above the belt (mm)")
    if title:
        ax.set_title(title)
    return fig


def plot_feature_distributions(F, y, class_names, feature_names, features=None, bins=30, ncols=3):
    """Histograms of features, one colour per class (each class normalised to area 1).

    Parameters
    ----------
    F : array (N, D)
        Feature matrix.
    y : array (N,) int
    class_names, feature_names : sequences of str
    features : sequence of str or int, optional
        Which columns to draw (names or indices); default all.

    Example
    -------
    >>> F = np.random.default_rng(0).normal(size=(40, 2))
    >>> fig = plot_feature_distributions(F, np.r_[[0] * 20, [1] * 20], ["a", "b"], ["f", "g"])
    """
    F, y = np.asarray(F, dtype=float), np.asarray(y)
    if F.ndim != 2 or len(F) != len(y) or F.shape[1] != len(feature_names):
        raise ValueError("F should be (N, D) with one label per row in y and one name per column in feature_names.")
    cols = list(range(F.shape[1])) if features is None else [
        list(feature_names).index(f) if isinstance(f, str) else int(f) for f in features]
    nrows = int(np.ceil(len(cols) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, c in zip(axes.flat, cols):
        v = F[:, c]
        lo, hi = np.percentile(v, [0.5, 99.5])
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        for k, name in enumerate(class_names):
            ax.hist(np.clip(v[y == k], lo, hi), bins=edges, density=True, histtype="step",
                    lw=1.6, color=colours(k), label=name)
        ax.set_title(feature_names[c], fontsize=10)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names, title=None, normalize=False):
    """Confusion matrix: rows the true class, columns the predicted one, counts written in.

    Parameters
    ----------
    y_true, y_pred : array (N,) int
    class_names : sequence of str
    title : str, optional
        Default: the accuracy.
    normalize : bool
        Show row fractions instead of counts.

    Example
    -------
    >>> fig = plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["a", "b"])
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError("y_true and y_pred should be 1-D arrays of the same length.")
    n = len(class_names)
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y_true, y_pred), 1)
    show = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    fig, ax = plt.subplots(figsize=(1.1 * n + 2, 1.0 * n + 1.5))
    ax.imshow(show, cmap="Blues")
    for (i, j), v in np.ndenumerate(show):
        ax.text(j, i, f"{v:.2f}" if normalize else str(v), ha="center", va="center",
                color="white" if show[i, j] > show.max() / 2 else "black", fontsize=9)
    ax.set_xticks(range(n), class_names, rotation=30, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title if title is not None else f"accuracy {acc:.3f} ({cm.sum()} maps)")
    fig.tight_layout()
    return fig


def plot_predictions(X, y_true, y_pred, class_names, indices, features=None, feature_names=None,
                     show_features=None, ncols=4, size=2.6):
    """Selected depth maps with their true and predicted class (green right, red wrong) and features.

    Parameters
    ----------
    X : array (N, H, W)
    y_true, y_pred : array (N,) int
    class_names : sequence of str
    indices : sequence of int
        Which maps to show.
    features : array (N, D), optional
        Feature matrix; with ``feature_names``, the columns in ``show_features``
        are printed under each map.
    show_features : sequence of str, optional
        Default: the first three feature names.

    Example
    -------
    >>> X = np.zeros((2, 8, 8)); X[:, 2:6, 2:6] = 40.0
    >>> fig = plot_predictions(X, [0, 1], [0, 0], ["a", "b"], [0, 1])
    """
    X = np.asarray(X)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    indices = list(indices)
    if not indices:
        raise ValueError("indices should name at least one map to show.")
    if features is not None and feature_names is not None:
        show_features = list(show_features or feature_names[:3])
        cols = [list(feature_names).index(f) for f in show_features]
    nrows = int(np.ceil(len(indices) / ncols))
    extra = 0.45 * len(show_features) if features is not None and feature_names is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + extra) * nrows), squeeze=False)
    lo, hi = _depth_limits(X[indices])
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("black")
    for ax, i in zip(axes.flat, indices):
        ax.imshow(np.where(X[i] > 0, X[i], -1), cmap=cmap, vmin=1e-3, vmax=hi)
        ok = y_true[i] == y_pred[i]
        ax.set_title(f"#{i} true {class_names[y_true[i]]}\npredicted {class_names[y_pred[i]]}",
                     fontsize=9, color="green" if ok else "red")
        ax.set_xticks([]), ax.set_yticks([])
        for s in ax.spines.values():
            s.set_edgecolor("green" if ok else "red")
            s.set_linewidth(2.5)
        if features is not None and feature_names is not None:
            ax.set_xlabel("\n".join(f"{n}: {features[i, c]:.3g}" for n, c in zip(show_features, cols)), fontsize=8)
    for ax in list(axes.flat)[len(indices):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 02_parameters
def plot_params_and_activations(rows, title=None, size=(11, 3.6)):
    """Per layer, the number of activation values and of parameters, on a log scale.

    Parameters
    ----------
    rows : sequence of (name, kind, output_shape, params)
        One row per layer, as :func:`parcel_utils.keras_tools.layer_table` returns them.
        Flatten layers are left out (their output is their input, relabelled).
    title : str, optional
    size : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> rows = [("conv", "Conv2D", (28, 28, 6), 156), ("flat", "Flatten", (4704,), 0),
    ...         ("fc", "Dense", (10,), 47050)]
    >>> fig = plot_params_and_activations(rows)
    >>> len(fig.axes[0].get_xticklabels())
    2
    """
    rows = [r for r in rows if r[1] != "Flatten"]
    if not rows or any(len(r) != 4 for r in rows):
        raise ValueError("`rows` should be a non-empty list of (name, kind, output_shape, params), "
                         "as parcel_utils.keras_tools.layer_table returns.")
    names = [r[0] for r in rows]
    acts = [int(np.prod(r[2])) for r in rows]
    params = [r[3] for r in rows]
    fig, ax = plt.subplots(figsize=size)
    x = np.arange(len(rows))
    ax.bar(x - 0.2, acts, 0.4, label="activation values (output of the layer)")
    ax.bar(x + 0.2, params, 0.4, label="parameters")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("count (log scale)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 04_cnn
def _depth_cmap():
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("black")
    return cmap


def plot_history(histories, metrics=("loss", "accuracy"), size=(5.0, 3.4)):
    """Training curves: one panel per metric, training (solid) and validation (dashed) per run.

    Parameters
    ----------
    histories : dict of {label: keras History or its ``.history`` dict}
    metrics : sequence of str

    Example
    -------
    >>> fig = plot_history({"cnn": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
    ...                             "accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7]}})
    >>> len(fig.axes)
    2
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories should be a non-empty dict {label: History or history dict}.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size[0] * len(metrics), size[1]), squeeze=False)
    for k, (label, h) in enumerate(histories.items()):
        h = getattr(h, "history", h)
        colour = f"C{k}"
        for ax, m in zip(axes[0], metrics):
            if m in h:
                ax.plot(np.arange(1, len(h[m]) + 1), h[m], color=colour, label=f"{label} (train)")
            if "val_" + m in h:
                ax.plot(np.arange(1, len(h["val_" + m]) + 1), h["val_" + m], "--", color=colour,
                        label=f"{label} (val)")
    for ax, m in zip(axes[0], metrics):
        ax.set_xlabel("epoch"), ax.set_ylabel(m), ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_image_pairs(rows, row_titles=None, col_titles=None, size=1.8):
    """A grid of depth maps, e.g. originals and their augmented or mixed versions.

    Parameters
    ----------
    rows : sequence of arrays (K, H, W)
        One row of K maps each.
    row_titles, col_titles : sequences of str, optional
        ``col_titles`` may be one list per row (a list of lists).

    Example
    -------
    >>> fig = plot_image_pairs([np.ones((3, 8, 8)), np.zeros((3, 8, 8))], row_titles=["a", "b"])
    """
    rows = [np.asarray(r) for r in rows]
    if not rows or any(r.ndim != 3 for r in rows):
        raise ValueError("rows should be a non-empty list of arrays of depth maps (K, H, W).")
    k = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), k, figsize=(size * k, size * len(rows) + 0.3), squeeze=False)
    hi = _depth_limits(np.concatenate([r.reshape(len(r), -1) for r in rows], axis=1))[1]
    for i, r in enumerate(rows):
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if j >= len(r):
                ax.axis("off")
                continue
            ax.imshow(np.where(r[j] > 0, r[j], -1), cmap=_depth_cmap(), vmin=1e-3, vmax=hi)
            if col_titles is not None:
                t = col_titles[i][j] if isinstance(col_titles[0], (list, tuple)) else col_titles[j]
                ax.set_title(t, fontsize=8)
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def plot_retrieval(X_query, X_train, y_train, neighbours, class_names, y_query=None, distances=None,
                   queries=None, size=1.9):
    """Image retrieval: each query map and its nearest training maps in the latent space.

    Parameters
    ----------
    X_query : array (M, H, W)
    X_train : array (N, H, W)
    y_train : array (N,) int
    neighbours : array (M, k) int
        Indices into ``X_train``, nearest first.
    class_names : sequence of str
    y_query : array (M,) int, optional
    distances : array (M, k), optional
    queries : sequence of int, optional
        Which queries to show (default all).

    Example
    -------
    >>> X = np.ones((4, 8, 8))
    >>> fig = plot_retrieval(X[:1], X, np.array([0, 1, 0, 1]), np.array([[1, 2, 3]]), ["a", "b"])
    """
    neighbours = np.asarray(neighbours)
    queries = list(range(len(neighbours))) if queries is None else list(queries)
    k = neighbours.shape[1]
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(size * (k + 1), size * len(queries) + 0.2),
                             squeeze=False)
    hi = _depth_limits(X_query[queries])[1]
    for r, q in enumerate(queries):
        ax = axes[r, 0]
        ax.imshow(np.where(X_query[q] > 0, X_query[q], -1), cmap=_depth_cmap(), vmin=1e-3, vmax=hi)
        ax.set_title(f"query #{q}" + (f"\n{class_names[y_query[q]]}" if y_query is not None else ""),
                     fontsize=8, fontweight="bold")
        for j in range(k):
            i = neighbours[q, j]
            ax = axes[r, j + 1]
            ax.imshow(np.where(X_train[i] > 0, X_train[i], -1), cmap=_depth_cmap(), vmin=1e-3, vmax=hi)
            same = y_query is not None and y_train[i] == y_query[q]
            d = f", d={distances[q, j]:.3g}" if distances is not None else ""
            ax.set_title(f"{j + 1}-NN: train #{i}{d}\n{class_names[y_train[i]]}", fontsize=8,
                         color="green" if same else ("red" if y_query is not None else "black"))
        for ax in axes[r]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_embedding(Z, y, class_names, title=None, size=(6.5, 5.5)):
    """A 2-D embedding (e.g. t-SNE of latent features), one colour per class.

    Example
    -------
    >>> fig = plot_embedding(np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2, ["a", "b"])
    """
    Z, y = np.asarray(Z), np.asarray(y)
    if Z.ndim != 2 or Z.shape[1] != 2 or len(Z) != len(y):
        raise ValueError(f"Z should be (N, 2) with one label per row, got Z {Z.shape} and y {y.shape}.")
    fig, ax = plt.subplots(figsize=size)
    for k, name in enumerate(class_names):
        m = y == k
        ax.scatter(Z[m, 0], Z[m, 1], s=6, alpha=0.7, color=f"C{k}", label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(markerscale=3, fontsize=9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
