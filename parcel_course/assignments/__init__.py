"""One folder per assignment, named after it: its checks and its reference answers.

``parcel_course/assignments/<assignment>/``

* ``checks.py`` -- ``CHECKS``: every graded key of the assignment on one line each (the
  notebook's test cell, the input generator and its seed, the reference or verifier, the
  comparison and its tolerance, the metric key of a bar), and the input generators;
* ``reference.py`` -- the reference answers the checks compare with.

The notebook the checks grade is ``source/<assignment>/<notebook>.src.py`` (its test cells name
the keys: ``attest("relu", relu)``). Folder names start with a digit, as the assignments do, so
they are not valid Python identifiers: load a part with :func:`load` (``importlib``), not with an
``import`` statement; inside a folder, ``from . import reference`` works as usual.

Example
-------
>>> NAMES
('01_convolution', '02_parameters', '03_handcrafted', '04_cnn')
>>> load("01_convolution").ASSIGNMENT
'01_convolution'
"""
from __future__ import annotations

import importlib

import numpy as np

__all__ = ["NAMES", "PARTS", "load", "seeded_rng"]

#: The course's assignments, in order: one folder each.
NAMES = ("01_convolution", "02_parameters", "03_handcrafted", "04_cnn")
#: What each folder holds (module names).
PARTS = ("checks", "reference")


def load(assignment: str, part: str = "checks"):
    """The module ``part`` (``"checks"`` or ``"reference"``) of ``assignment``'s folder.

    Raises ``KeyError`` naming the assignments when ``assignment`` is not one of them.
    """
    if assignment not in NAMES:
        raise KeyError(f"no assignment {assignment!r}: the course has {', '.join(NAMES)}")
    if part not in PARTS:
        raise ValueError(f"`part` should be one of {PARTS}, got {part!r}.")
    return importlib.import_module(f"{__name__}.{assignment}.{part}")


def seeded_rng(seed) -> np.random.Generator:
    """NumPy's ``default_rng(seed)`` for an input generator of a check; ``seed`` must be an int.

    Example
    -------
    >>> seeded_rng(3).integers(10) == seeded_rng(3).integers(10)
    True
    >>> seeded_rng("3")
    Traceback (most recent call last):
    ...
    ValueError: seed should be an int, got '3'.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed should be an int, got {seed!r}.")
    return np.random.default_rng(int(seed))
