"""After the kernel: every attested check recomputed outside it (see :mod:`parcel_course.registry`).

Once a submission's first cell has run, everything inside its kernel is the
student's: IPython's hooks, the modules the tests call, builtins, even whether
the kernel lives to the end of a test.  nbgrader scores a test cell from its
outputs alone (no error, no stderr: full marks), so nothing computed in the
kernel can be trusted.  For each graded test cell this preprocessor looks up
the cell's checks in the registry, reads what the kernel published
(``parcel_utils.attest``) and decides in the grader's own process: values
are compared with the reference computed here (or run through the
instructor's verifier), saved models are loaded and checked in one fresh,
sandboxed process (:mod:`parcel_course.verify_model`), from copies read back
without following links (:mod:`parcel_course.scratch`).  A missing, malformed
or wrong value appends an error to the cell (nbgrader then scores it zero);
where the kernel's own output said the test passed, the submission is
flagged as tampering.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from parcel_utils.attest import ATTEST_DIR, ATTEST_MIME, ATTEST_MODEL_MIME

from .. import registry
from ..limits import Limits
from ..scratch import ScratchError, copy_back, drop_scratch, scratch_of
from ..verify_model import verify_saved_models
from .common import append_flags, append_timing, notebook_limits

__all__ = ["VerifyAttestations", "ATTEST_ERROR", "records_problem", "verify_value", "verify_models"]

ATTEST_ERROR = "AttestationError"


def records_problem(records: list, what: str) -> str | None:
    """What is wrong with the number of records a check's kernel published, if anything."""
    if not records:
        return f"no attested {what}: the check did not run to its end in the kernel"
    if len(records) > 1:
        return f"{len(records)} attested {what}s for one check: published more than once"
    return None


def verify_value(check, records: list) -> str | None:
    """Why the published records of one value check fail it; None when they pass."""
    why = records_problem(records, "value")
    if why:
        return why
    rec = records[0]
    values = rec.get("values") if isinstance(rec, dict) else None
    try:
        return check.verify(values)
    except Exception as exc:  # noqa: BLE001 - the instructor's check is broken: fail, say why
        return f"the grader cannot run the check {check.key!r}: {type(exc).__name__}: {exc}"


def verify_models(items, scratch, limits: Limits) -> list:
    """For each ``(model_check, records)``, why it fails (None if it passes), all in one checker process.

    Each saved model is read back from the kernel's folder ``scratch`` without following links, as a
    regular file of at most ``limits.max_file_mb`` MB (:func:`parcel_course.scratch.copy_back`), into a
    folder of the grader's; only that copy reaches the checker, run under ``limits`` (the notebook's:
    :func:`parcel_course.verify_model.verify_saved_models`).
    """
    max_mb = limits.max_file_mb
    whys = [records_problem(records, "model") for _check, records in items]
    jobs, todo = [], []
    with tempfile.TemporaryDirectory(prefix="parcel-models-") as spool:
        os.chmod(spool, 0o755)            # the checker may run as nobody: it reads the copies, read-only
        for i, (check, records) in enumerate(items):
            if whys[i] is not None:
                continue
            rec = records[0] if isinstance(records[0], dict) else {}
            try:
                copy = copy_back(scratch, f"{ATTEST_DIR}/{check.key}.keras", Path(spool) / f"{i}.keras",
                                 max_mb * 2**20)
            except ScratchError as exc:
                whys[i] = f"no saved model the grader can read: {exc}"
                continue
            except OSError:
                whys[i] = "no saved model: the check did not run to its end in the kernel"
                continue
            jobs.append((copy, check.key, rec.get("record")))
            todo.append(i)
        for i, why in zip(todo, verify_saved_models(jobs, limits)):
            whys[i] = why
    return whys


def _kernel_says_pass(cell) -> bool:
    """The kernel's own account of a test cell: no error output (stderr is a warning: it costs no points)."""
    return not any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _error_output(ename, evalue) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class VerifyAttestations(NbGraderPreprocessor):
    """Recompute the attested hidden tests outside the kernel (see the module's docstring).

    Runs after the kernel has executed the notebook and before
    ``SaveAutoGrades``.  Which cells are graded test cells comes from the
    gradebook, which checks they make from the registry.
    """

    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)
    timings_path = Unicode("", help="File to which the verification's time is appended ('' : none).").tag(config=True)

    def preprocess(self, nb, resources):
        try:
            return self._verify(nb, resources)
        finally:
            drop_scratch(resources)       # the kernel's folder has done its job; nothing else is read from it

    def _verify(self, nb, resources):
        t0 = time.perf_counter()
        info = resources["nbgrader"]
        notebook, assignment = info["notebook"], info["assignment"]
        scratch = scratch_of(resources) or Path((resources.get("metadata") or {}).get("path") or ".")
        limits = notebook_limits(self.config, resources)    # the Execute's, carried in resources
        flags, pending = [], []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.cell_type != "code" or not gid:
                    continue
                try:
                    gb.find_graded_cell(gid, notebook, assignment)
                except MissingEntry:
                    continue                      # not a graded cell of the instructor's
                checks = registry.cell_checks(assignment, notebook, gid)
                if not checks:
                    continue
                published, kept = {}, []
                for o in cell.get("outputs", []):
                    data = o.get("data", {}) if o.get("output_type") in ("display_data", "execute_result") else {}
                    mime = ATTEST_MIME if ATTEST_MIME in data else ATTEST_MODEL_MIME if ATTEST_MODEL_MIME in data else None
                    if mime is None:
                        kept.append(o)
                        continue
                    rec = data[mime]
                    key = rec.get("key") if isinstance(rec, dict) else None
                    published.setdefault((mime, key), []).append(rec)
                pending.append((cell, gid, checks, published, kept))
        # every attested model of the notebook is checked in one process (Keras imported once)
        items = [(c, published.get((ATTEST_MODEL_MIME, c.key), []))
                 for _cell, _gid, checks, published, _kept in pending for c in checks if c.kind == "model"]
        t_models = time.perf_counter()
        model_whys = dict(zip((c.key for c, _ in items),
                              verify_models(items, scratch, limits)))
        t_models = time.perf_counter() - t_models
        for cell, gid, checks, published, kept in pending:
            kernel_pass = _kernel_says_pass(cell)
            failures = []
            for check in checks:
                why = (verify_value(check, published.get((ATTEST_MIME, check.key), [])) if check.kind == "value"
                       else model_whys[check.key])
                if why:
                    failures.append(f"{check.key}: {why}")
            expected = {(ATTEST_MIME if c.kind == "value" else ATTEST_MODEL_MIME, c.key) for c in checks}
            unknown = sorted(str(key) for mime, key in published if (mime, key) not in expected)
            if unknown:
                failures.append(f"values attested for checks this cell does not make: {', '.join(unknown)}")
            cell.outputs = kept                 # the attested values have done their job
            if failures:
                reason = "; ".join(failures)
                cell.outputs.append(_error_output(ATTEST_ERROR, "the grader's own check failed: " + reason))
                if kernel_pass:
                    flags.append(dict(notebook=notebook, cell=gid, reason=(
                        "tampering: the test cell reported success in the kernel, but the grader's "
                        "out-of-process check failed (" + reason[:400] + "); scored zero")))
                self.log.info("attestation failed in %s/%s: %s", notebook, gid, reason[:300])
        append_flags(self.flags_path, flags)
        total = time.perf_counter() - t0
        append_timing(self.timings_path, notebook, verify_values=total - t_models, verify_models=t_models)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
