"""Before the kernel runs: the inputs of the notebook's attested checks, written beside it."""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from parcel_utils.attest import ATTEST_DIR, INPUTS_DIR

from .. import registry

__all__ = ["WriteAttestInputs"]


class WriteAttestInputs(NbGraderPreprocessor):
    """Write ``.parcel-attest/inputs/<key>.pkl`` for each value check of this notebook (registry).

    The directory is emptied first: nothing the submission brought along
    under ``.parcel-attest`` (a model file, forged inputs) survives.  The
    kernel reads the inputs (``parcel_utils.attest.load_cases``); the grader
    never reads them back, it builds the cases again itself.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        where = Path((resources.get("metadata") or {}).get("path") or ".")
        shutil.rmtree(where / ATTEST_DIR, ignore_errors=True)
        checks = [c for c in registry.checks_of(info["assignment"])
                  if c.notebook == info["notebook"] and c.kind == "value"]
        if checks:
            (where / INPUTS_DIR).mkdir(parents=True, exist_ok=True)
            os.chmod(where / ATTEST_DIR, 0o777)   # the kernel saves its attested models here, maybe as another user
        for check in checks:
            path = where / INPUTS_DIR / f"{check.key}.pkl"
            with open(path, "wb") as fh:
                pickle.dump(check.cases(), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.chmod(path, 0o644)         # the sandboxed kernel runs as another user
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
