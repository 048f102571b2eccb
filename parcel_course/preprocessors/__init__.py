"""The grader's nbgrader preprocessors, one per module (nbgrader's own layout).

- :class:`.scan_submission.ScanSubmission`: before nbgrader restores anything, the static scan of what the
  student wrote (flags).
- :class:`.write_attest_inputs.WriteAttestInputs`: before the kernel runs, the inputs of the notebook's
  attested checks, written beside it.
- :class:`.guarded_execute.GuardedExecute`: nbgrader's Execute with the kernel in the sandbox, the output capped
  and test outputs that cannot be cleared.
- :class:`.verify_attestations.VerifyAttestations`: after the kernel, every attested check recomputed in the
  grader's process (values) or in a sandboxed checker process (saved models).
- :class:`.keep_warnings.WarningsKeepPoints`: then, in graded test cells, stderr kept as a stdout note, so that
  a cell is scored from its errors only (a warning costs no points).
- :class:`.score_from_verdict.ScoreFromVerdict`: last, no ``execute_result`` of a test cell is read as a score:
  a test cell scores full marks with no error output, zero with one.

:func:`autograde_preprocessors` composes them into nbgrader's autograde list; the course's
``nbgrader_config.py`` and ``parcel-course grade``'s workers both use it.
"""
from __future__ import annotations

import json
import os

__all__ = ["autograde_preprocessors", "sanitize_preprocessors", "append_flags", "append_timing"]


def append_flags(path: str, flags: list) -> None:
    """Append flags (dicts: notebook, cell, reason) to ``path`` as JSON lines ('' : nowhere)."""
    if path and flags:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)   # a course never graded: no autograded/ yet
        with open(path, "a") as fh:
            for f in flags:
                fh.write(json.dumps(f) + "\n")


def append_timing(path: str, notebook: str, **seconds) -> None:
    """Append where a notebook's grading time went (``phase=seconds``) to ``path`` as one JSON line ('' : nowhere).

    ``parcel-course grade`` reads them into the ledger (``GradeResult.phases``); the benchmark sums them.
    """
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(dict(notebook=notebook, **{k: round(float(v), 3) for k, v in seconds.items()})) + "\n")


def sanitize_preprocessors() -> list:
    """nbgrader's sanitizing preprocessors, the static scan first (it must see the cells as submitted)."""
    from nbgrader.converters import Autograde
    from .scan_submission import ScanSubmission
    return [ScanSubmission, *Autograde.sanitize_preprocessors.make_dynamic_default()]


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with its Execute replaced by ours (inputs, guarded run, verification)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from .guarded_execute import GuardedExecute
    from .keep_warnings import WarningsKeepPoints
    from .score_from_verdict import ScoreFromVerdict
    from .verify_attestations import VerifyAttestations
    from .write_attest_inputs import WriteAttestInputs
    out = []
    for p in Autograde.autograde_preprocessors.make_dynamic_default():
        out += ([WriteAttestInputs, GuardedExecute, VerifyAttestations, WarningsKeepPoints, ScoreFromVerdict]
                if p is Execute else [p])
    return out
