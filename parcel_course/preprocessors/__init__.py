"""The grader's nbgrader preprocessors, one per module (nbgrader's own layout).

- :class:`.scan_submission.ScanSubmission`: before nbgrader restores anything, the static scan of what the
  student wrote (flags).
- :class:`.write_attest_inputs.WriteAttestInputs`: before the kernel runs, the inputs of the notebook's
  attested checks, written beside it.
- :class:`.sandboxed_execute.SandboxedExecute`: nbgrader's Execute with the kernel in the sandbox, under the
  notebook's limits (its per-cell timeout, the kernel manager's caps), each fresh kernel checked before the
  notebook's first cell (:mod:`parcel_course.preflight`); the base of the next one.
- :class:`.guarded_execute.GuardedExecute`: the sandboxed Execute with the output capped and test outputs
  that cannot be cleared.
- :class:`.verify_attestations.VerifyAttestations`: after the kernel, every attested check recomputed in the
  grader's process (values) or in a sandboxed checker process (saved models).
- :class:`.keep_warnings.WarningsKeepPoints`: then, in graded test cells, stderr kept as a stdout note, so that
  a cell is scored from its errors only (a warning costs no points).
- :class:`.limit_output.AssignmentLimitOutput`: nbgrader's LimitOutput, its lines the notebook's limit.
- :class:`.score_from_verdict.ScoreFromVerdict`: last, no ``execute_result`` of a test cell is read as a score:
  a test cell scores full marks with no error output, zero with one.
- :class:`.feedback_pages_only.FeedbackPagesOnly`: feedback from the graded notebook only (nothing nbgrader
  copied beside the pages).
- :class:`.redact_hidden_tests.RedactHiddenTests`, :class:`.hide_hidden_tests.HideHiddenTests`: feedback
  without the hidden tests.

The limits are resolved once per notebook (:func:`.common.notebook_limits`, by the first of these that
needs them) and travel in nbgrader's ``resources``; no preprocessor reads ``c.GradingLimits`` itself.
:func:`autograde_preprocessors` composes them into nbgrader's autograde list; the course's
``nbgrader_config.py`` and ``parcel-course grade``'s workers both use it.
"""
from __future__ import annotations

from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, LimitOutput

from .common import append_flags, append_timing, notebook_limits
from .guarded_execute import GuardedExecute
from .keep_warnings import WarningsKeepPoints
from .limit_output import AssignmentLimitOutput
from .scan_submission import ScanSubmission
from .score_from_verdict import ScoreFromVerdict
from .verify_attestations import VerifyAttestations
from .write_attest_inputs import WriteAttestInputs

__all__ = ["autograde_preprocessors", "sanitize_preprocessors", "append_flags", "append_timing", "notebook_limits"]


def sanitize_preprocessors() -> list:
    """nbgrader's sanitizing preprocessors, the static scan first (it must see the cells as submitted)."""
    return [ScanSubmission, *Autograde.sanitize_preprocessors.make_dynamic_default()]


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with its Execute replaced by ours (inputs, guarded run, verification)
    and its LimitOutput by the one that reads the notebook's limits."""
    out = []
    for p in Autograde.autograde_preprocessors.make_dynamic_default():
        out += ([WriteAttestInputs, GuardedExecute, VerifyAttestations, WarningsKeepPoints, ScoreFromVerdict]
                if p is Execute else [AssignmentLimitOutput] if p is LimitOutput else [p])
    return out
