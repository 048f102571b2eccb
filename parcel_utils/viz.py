"""Every figure a notebook or a report of the parcel course shows.

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
    from parcel_utils.convolution import pad_image, padding_widths

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` should be a 2-D array (H, W), got shape {image.shape}.")
    vmin, vmax = float(np.min(image)), float(np.max(image))
    vmin = min(vmin, 0.0)
    fig, axes = plt.subplots(1, len(modes), figsize=(3.2 * len(modes), 3.4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        padded = pad_image(image, kernel_size, mode)
        (t, _), (l, _) = padding_widths(kernel_size, mode)
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
