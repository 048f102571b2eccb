"""The course, configured for nbgrader by one function: :func:`configure_course`.

The course's ``nbgrader_config.py`` calls it, and so does the configuration
each ``parcel-course grade`` worker writes for its private course directory
(:mod:`parcel_course.grading.worker`): plain ``nbgrader autograde``,
formgrader's Autograde button and ``parcel-course grade`` grade with the same
layout, sandbox, limits, verification and flags.  ``parcel-course grade``
adds only parallelism (and watches memory, disk and processes from outside).
"""
from __future__ import annotations

import os
from dataclasses import asdict

from .limits import Limits
from .preprocessors import autograde_preprocessors, sanitize_preprocessors
from .webguard import configure_webguard

__all__ = ["configure_course", "configure_grading", "FEEDBACK_PREPROCESSORS", "FLAGS_FILE", "TIMINGS_FILE",
           "DIGESTS_FILE"]

#: nbgrader's GenerateFeedback preprocessors: the files nbgrader copied beside the pages removed (feedback is
#: made from the graded notebook only), hidden tests removed: from the outputs (what the kernel printed of
#: them), then from the test cells' sources.
FEEDBACK_PREPROCESSORS = [
    "parcel_course.preprocessors.feedback_pages_only.FeedbackPagesOnly",
    "parcel_course.preprocessors.redact_hidden_tests.RedactHiddenTests",
    "parcel_course.preprocessors.hide_hidden_tests.HideHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

#: Where the grader's preprocessors append the integrity flags (JSON lines): ``autograded/`` of the course,
#: the top of a worker's private course directory.
FLAGS_FILE = "integrity-flags.jsonl"
#: Where each notebook's grading time goes, in a worker's private course directory (its ledger's phases).
TIMINGS_FILE = "timings.jsonl"
#: The digests of the instructor's cells the static scan compares with, in a worker's private course directory.
DIGESTS_FILE = "instructor-cells.json"


def configure_course(c, root, limits: Limits | dict | None = None, private: bool = False) -> None:
    """Configure ``c`` for the course at ``root``: its directories and gradebook, the grading integrity, the limits.

    Parameters
    ----------
    c : traitlets.config.Config
        ``get_config()`` of an ``nbgrader_config.py``.
    root : str or Path
        The course directory.
    limits : Limits or dict, optional
        The grading limits (``c.GradingLimits``); None keeps what ``c`` already says (the course's
        ``nbgrader_config.py`` sets them above its call).
    private : bool, default False
        A ``parcel-course grade`` worker's private course directory: its gradebook is the SQLite file in
        ``root`` (never ``PARCEL_DB_URL``'s server), flags, timings (with each kernel's check: a refusal
        stops the batch) and the instructor cells' digests sit in ``root``, and the late rule, the
        feedback pages, the exchange and formgrader's safeguards are the course's business, not a
        worker's (the instructor's process applies the late rule once, after the merge).

    Example
    -------
    >>> from traitlets.config import Config
    >>> c = Config(); configure_course(c, "/srv/course"); c.CourseDirectory.root
    '/srv/course'
    >>> c.GuardedExecute.flags_path
    '/srv/course/autograded/integrity-flags.jsonl'
    """
    root = str(root)
    c.CourseDirectory.course_id = "parcel-course"
    c.CourseDirectory.root = root
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    # The gradebook: a PostgreSQL (any SQLAlchemy) URL in PARCEL_DB_URL, else the SQLite file in the course.
    sqlite = "sqlite:///" + os.path.join(root, "gradebook.db")
    c.CourseDirectory.db_url = sqlite if private else (os.environ.get("PARCEL_DB_URL") or sqlite)
    # The .src.py scripts the notebooks are built from stay out of the student version.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.src.py"]
    if limits is not None:
        c.GradingLimits.update(limits if isinstance(limits, dict) else asdict(limits))
    if private:
        configure_grading(c, flags_path=os.path.join(root, FLAGS_FILE), timings_path=os.path.join(root, TIMINGS_FILE))
        c.ScanSubmission.digests_path = os.path.join(root, DIGESTS_FILE)
        return
    configure_grading(c, flags_path=os.path.join(root, "autograded", FLAGS_FILE))
    c.Exchange.root = os.environ.get("PARCEL_EXCHANGE", os.path.join(root, "exchange"))
    c.Exchange.path_includes_course = True
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # Late submissions: parcel_course.late.LatePenalty, with the course's c.LatePenalty settings; feedback says
    # how late, the rule and the points taken off.
    c.AssignLatePenalties.plugin_class = "parcel_course.late.LatePenalty"
    c.GenerateFeedback.preprocessors = [*FEEDBACK_PREPROCESSORS, "parcel_course.late.LatenessNote"]
    # What a student wrote or printed stays inert in formgrader and in the feedback pages (parcel_course.webguard).
    configure_webguard(c)


def configure_grading(c, flags_path: str = "", timings_path: str = "") -> None:
    """Set autograde's preprocessors on ``c``: the static scan, the attested inputs, the sandboxed and
    guarded Execute, the verification outside the kernel; and feedback without hidden tests.

    :func:`configure_course` calls it; ``c.GradingLimits`` holds the limits,
    which the preprocessors resolve for each notebook's assignment when they
    grade it (:func:`parcel_course.preprocessors.common.notebook_limits`: the
    sandbox, the timeout, the output caps, ``LimitOutput``'s lines), before or
    after this call alike; ``flags_path`` is where the integrity flags go as
    JSON lines, ``timings_path`` where each notebook's time goes (kernel
    start, cells, verification; ``parcel-course grade`` records it in its ledger).

    Example
    -------
    >>> from traitlets.config import Config
    >>> c = Config(); configure_grading(c); [p.__name__ for p in c.Autograde.autograde_preprocessors][:3]
    ['WriteAttestInputs', 'GuardedExecute', 'VerifyAttestations']
    """
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
    c.ScanSubmission.flags_path = c.GuardedExecute.flags_path = c.VerifyAttestations.flags_path = flags_path
    c.GuardedExecute.timings_path = c.VerifyAttestations.timings_path = timings_path
    c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
