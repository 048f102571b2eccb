"""The grading integrity, composed once into an nbgrader configuration.

The course's ``nbgrader_config.py`` calls :func:`configure_grading`, and so
does the configuration each ``parcel-course grade`` worker writes for its
private course directory: plain ``nbgrader autograde``, formgrader's
Autograde button and ``parcel-course grade`` grade with the same sandbox,
limits, verification and flags.  ``parcel-course grade`` adds only
parallelism (and watches memory, disk and processes from outside).
"""
from __future__ import annotations

__all__ = ["configure_grading", "FEEDBACK_PREPROCESSORS"]

#: nbgrader's GenerateFeedback preprocessors, hidden tests removed first: from the outputs (what the kernel
#: printed of them), then from the test cells' sources.
FEEDBACK_PREPROCESSORS = [
    "parcel_course.preprocessors.redact_hidden_tests.RedactHiddenTests",
    "parcel_course.preprocessors.hide_hidden_tests.HideHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def configure_grading(c, flags_path: str = "", timings_path: str = "") -> None:
    """Set autograde's preprocessors on ``c``: the static scan, the attested inputs, the sandboxed and
    guarded Execute, the verification outside the kernel; and feedback without hidden tests.

    ``c.GradingLimits`` holds the limits (set them before or after this
    call); ``flags_path`` is where the integrity flags go as JSON lines,
    ``timings_path`` where each notebook's time goes (kernel start, cells,
    verification; ``parcel-course grade`` records it in its ledger).
    """
    from .limits import GradingLimits
    from .preprocessors import autograde_preprocessors, sanitize_preprocessors
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
    c.ScanSubmission.flags_path = c.GuardedExecute.flags_path = c.VerifyAttestations.flags_path = flags_path
    c.GuardedExecute.timings_path = c.VerifyAttestations.timings_path = timings_path
    c.LimitOutput.max_lines = GradingLimits(config=c).max_output_lines
    c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
