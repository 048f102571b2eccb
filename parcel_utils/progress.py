"""Progress bars that work in every Jupyter, with or without ipywidgets.

``tqdm.auto`` draws a widget in a notebook, and where ``ipywidgets`` is not
installed (a plain ``pip install jupyterlab``: JupyterLab does not depend on
it) it prints ``TqdmWarning: IProgress not found. Please update jupyter and
ipywidgets`` on stderr, once per kernel, before falling back to text.  Every
progress bar of ``parcel_utils`` goes through :func:`progress_bar`, which
chooses the widget only where it can be drawn (a Jupyter kernel that can
import ``ipywidgets``) and the text bar (``tqdm.std.tqdm``) everywhere else,
so that no student sees that warning.

Example
-------
>>> from parcel_utils.progress import progress_bar
>>> sum(progress_bar(range(3), desc="counting", disable=True))
3
"""
from __future__ import annotations

import os
import sys

from tqdm.std import tqdm as text_tqdm

__all__ = ["progress_bar", "tqdm_class", "in_jupyter_kernel"]


def in_jupyter_kernel() -> bool:
    """True in a Jupyter kernel that can draw widgets (JupyterLab, Notebook, VS Code, Colab), else False.

    A running IPython shell of a Jupyter kernel (``IPKernelApp`` in its
    configuration, or ipykernel's ``ZMQInteractiveShell``), and not the Qt
    console or Spyder, which draw no widgets (the same exclusions as
    ``tqdm.autonotebook``). Looks at an IPython already imported, never
    imports it.

    Example
    -------
    >>> in_jupyter_kernel()          # doctest: +SKIP
    False
    """
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None:
            return False
        kernel = "IPKernelApp" in shell.config or any(
            cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)
    except Exception:                      # an IPython without get_ipython or config: not a kernel
        return False
    console = (any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ)
               or "qt" in type(shell).__name__.lower() or "spyder" in type(shell).__name__.lower())
    return kernel and not console


def tqdm_class():
    """The tqdm class to use here: ``tqdm.notebook.tqdm`` in a kernel with ipywidgets, else ``tqdm.std.tqdm``.

    Never imports ``tqdm.auto`` or ``tqdm.autonotebook`` (their import is what warns).

    Example
    -------
    >>> tqdm_class().__module__
    'tqdm.std'
    """
    if in_jupyter_kernel():
        try:
            import ipywidgets  # noqa: F401   (None in sys.modules: an ImportError too)
        except ImportError:
            pass
        else:
            try:
                # lazy: tqdm.notebook imports IPython and ipywidgets, wanted only in a kernel that draws widgets
                from tqdm.notebook import tqdm as notebook_tqdm
                return notebook_tqdm
            except ImportError:
                pass
    return text_tqdm


def progress_bar(iterable=None, **kwargs):
    """A tqdm progress bar over ``iterable``: a widget where Jupyter can draw one, else text.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (as ``tqdm(iterable)``); omit it and pass
        ``total=`` to update the bar by hand.
    **kwargs
        tqdm's own arguments (``desc``, ``unit``, ``total``, ``mininterval``,
        ``disable``, ...).

    Returns
    -------
    tqdm.std.tqdm
        The bar (``tqdm.notebook.tqdm`` is a subclass).

    Example
    -------
    >>> for i in progress_bar(range(1000), desc="maps", unit="map", disable=True):
    ...     pass
    """
    return tqdm_class()(iterable, **kwargs)
