"""What the registry tests (tests/test_registry_*.py) share: comparing cases, and what a notebook's text names.

Import it from a test module as ``from registry_helpers import ...`` (tests/conftest.py puts this folder on the path).
"""
import ast

import numpy as np

from parcel_utils.attest import ToyPosteriors


def same_cases(a, b):
    """Assert that two lists of cases ``[(args, kwargs, label), ...]`` are the same, arrays byte for byte.

    A :class:`~parcel_utils.attest.ToyPosteriors` argument (04's toy model) is compared by its ``W`` and ``c`` arrays.
    """
    assert len(a) == len(b)
    for (args1, kw1, l1), (args2, kw2, l2) in zip(a, b):
        assert l1 == l2 and kw1 == kw2 and len(args1) == len(args2)
        for x, y in zip(args1, args2):
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
            elif isinstance(x, ToyPosteriors):
                assert x.W.tobytes() == y.W.tobytes() and x.c.tobytes() == y.c.tobytes()
            else:
                assert x == y


def labels_and_bytes(cases):
    """``[(label, bytes of each array argument...), ...]``: what tells two lists of cases apart."""
    return [(label, *(a.tobytes() for a in args if isinstance(a, np.ndarray))) for args, _, label in cases]


def stored_names(source):
    """The names a cell's ``source`` assigns or defines (functions, classes)."""
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def graded_names(nb, given=()):
    """The public names the solution cells of notebook ``nb`` set, with ``given`` (graded names given cells set)."""
    graded = set(given)
    for c in nb.cells:
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
            graded |= {n for n in stored_names(c.source) if not n.startswith("_")}
    return graded


def check_graded_names_in_text(nb, graded):
    """Assert that each test cell of ``nb`` reads only ``graded`` names the markdown before it names, and its points.

    A name counts as named where the text holds it in backticks (`` `name``); the points as ``(N point``
    (``(N points`` included).  Returns how many test cells (graded, not solution) were read.
    """
    text, seen = "", 0
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "markdown":
            text += c.source
        elif meta.get("grade") and not meta.get("solution"):
            seen += 1
            read = {n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load)} - stored_names(c.source)
            missing = sorted(n for n in read & graded if f"`{n}" not in text)
            assert not missing, (meta["grade_id"], missing)
            assert f"({meta['points']} point" in text, meta["grade_id"]
    return seen
