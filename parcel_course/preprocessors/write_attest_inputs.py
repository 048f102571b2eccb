"""Before the kernel runs: the inputs of the notebook's attested checks, written beside it."""
from __future__ import annotations

import os
import pickle

from nbgrader.preprocessors import NbGraderPreprocessor

from parcel_utils.attest import ATTEST_DIR, INPUTS_DIR

from .. import registry
from ..scratch import ensure_scratch

__all__ = ["WriteAttestInputs"]


class WriteAttestInputs(NbGraderPreprocessor):
    """Write ``.parcel-attest/inputs/<key>.pkl`` for each value check of this notebook (registry).

    They go into the kernel's scratch folder (:func:`parcel_course.scratch.ensure_scratch`, made here), a
    fresh folder that holds nothing the submission brought along under ``.parcel-attest`` (a model file,
    forged inputs).  The kernel reads the inputs (``parcel_utils.attest.load_cases``); the grader never
    reads them back, it builds the cases again itself.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        where = ensure_scratch(resources)
        checks = [c for c in registry.checks_of(info["assignment"])
                  if c.notebook == info["notebook"] and c.kind == "value"]
        (where / ATTEST_DIR).mkdir(exist_ok=True)     # the kernel saves its attested models here
        if checks:
            (where / INPUTS_DIR).mkdir(parents=True, exist_ok=True)
        for check in checks:
            path = where / INPUTS_DIR / f"{check.key}.pkl"
            with open(path, "wb") as fh:
                pickle.dump(check.cases(), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.chmod(path, 0o644)         # the sandboxed kernel runs as another user
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
