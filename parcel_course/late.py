"""Late penalties by the day, and extensions, through nbgrader's gradebook.

nbgrader stores a due date per assignment and, per student, an extension on
the submission (``SubmittedAssignment.extension``; the student's due date is
the assignment's plus the extension).  ``nbgrader autograde`` then asks the
plugin of ``c.AssignLatePenalties.plugin_class`` for each notebook's penalty.
Its own plugin knows only "no penalty" or "zero"; :class:`LatePenalty` is a
rule an instructor can state in a syllabus::

    c.AssignLatePenalties.plugin_class = "parcel_course.late.LatePenalty"
    c.LatePenalty.percent = 10          # of the points earned, per started day late
    c.LatePenalty.unit = "day"          # or "hour"
    c.LatePenalty.grace_minutes = 15    # up to 15 min late counts as on time
    c.LatePenalty.max_percent = 50      # the penalty never exceeds half the points
    c.LatePenalty.zero_after_days = 7   # more than 7 days late: zero

- :func:`apply_penalties` recomputes the penalties of submissions already in
  the gradebook with the course's rule (after an extension, a change of the
  rule, or ``parcel-course grade``, whose workers grade into a private
  gradebook without the course's extensions);
- :func:`grant_extension` and :func:`list_extensions` are
  ``parcel-course extend`` and ``parcel-course extensions``;
- :class:`LatenessNote` is a feedback preprocessor: it puts the lateness, the
  rule and the penalty at the top of a late student's feedback.
"""
from __future__ import annotations

import math
from datetime import timedelta
from textwrap import dedent

from nbgrader.plugins import BasePlugin
from traitlets import Enum, Float

__all__ = ["LatePenalty", "course_plugin", "apply_penalties", "grant_extension", "list_extensions",
           "LatenessNote", "describe_duration"]

DAY, HOUR = 86400.0, 3600.0


class LatePenalty(BasePlugin):
    """A late penalty by the started day (or hour), with a grace period, a cap and a last date.

    The penalty of a notebook is ``percent`` of the points it earned per
    started ``unit`` after the student's due date (the assignment's plus any
    extension), nothing within ``grace_minutes``, at most ``max_percent``,
    and all of its points more than ``zero_after_days`` after the due date.

    Example
    -------
    >>> rule = LatePenalty(percent=10, unit="day", grace_minutes=15, max_percent=50, zero_after_days=7)
    >>> [rule.penalty_percent(s) for s in (0, 600, 3600, 86400, 86401, 6 * 86400, 8 * 86400)]
    [0.0, 0.0, 10.0, 10.0, 20.0, 50.0, 100.0]
    >>> rule.late_submission_penalty("ann", 8.0, 3600)
    0.8
    """

    percent = Float(10.0, min=0.0, help=dedent("""
        The penalty per started unit (see `unit`) after the due date, in percent of the points the
        notebook earned. 0: no penalty (lateness is still recorded and reported).""")).tag(config=True)
    unit = Enum(("day", "hour"), default_value="day", help=dedent("""
        What `percent` is charged per: 'day' (each started 24 hours after the due date) or 'hour'.
        """)).tag(config=True)
    grace_minutes = Float(0.0, min=0.0, help=dedent("""
        A submission at most this many minutes after the due date counts as on time (no penalty).
        After it, units are counted from the due date itself.""")).tag(config=True)
    max_percent = Float(100.0, min=0.0, max=100.0, help=dedent("""
        The cap: the penalty never exceeds this percentage of the points earned
        (before `zero_after_days`).""")).tag(config=True)
    zero_after_days = Float(0.0, min=0.0, help=dedent("""
        The last date, in days after the student's due date (extensions move it too): a submission
        later than that gets zero (a penalty of all its points), whatever the cap. 0: no last date.
        """)).tag(config=True)

    def penalty_percent(self, seconds_late: float) -> float:
        """The penalty, in percent of the points earned, of a submission ``seconds_late`` after its due date."""
        seconds_late = float(seconds_late or 0.0)
        if seconds_late <= 0 or seconds_late <= 60.0 * self.grace_minutes:
            return 0.0
        if self.zero_after_days and seconds_late > DAY * self.zero_after_days:
            return 100.0
        units = math.ceil(seconds_late / (DAY if self.unit == "day" else HOUR))
        return float(min(self.max_percent, units * self.percent))

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        """nbgrader's plugin interface: the points to take off a notebook that scored ``score``."""
        pct = self.penalty_percent(total_seconds_late)
        self.log.info("Late penalty of %s: %s late, %g%% of %s points (%s)", student_id,
                      describe_duration(total_seconds_late), pct, score, self.describe())
        return round(float(score or 0.0) * pct / 100.0, 4)

    def describe(self) -> str:
        """The rule in one sentence, for the report and the feedback.

        >>> LatePenalty(percent=10, grace_minutes=15, max_percent=50, zero_after_days=7).describe()
        '10% of the points earned per started day late, after a grace period of 15 min, at most 50%; zero when more than 7 days late'
        """
        if not self.percent and not self.zero_after_days:
            return "no penalty for lateness (it is recorded only)"
        parts = [f"{self.percent:g}% of the points earned per started {self.unit} late"]
        if self.grace_minutes:
            parts.append(f", after a grace period of {describe_duration(60 * self.grace_minutes)}")
        if self.max_percent < 100:
            parts.append(f", at most {self.max_percent:g}%")
        if self.zero_after_days:
            parts.append(f"; zero when more than {self.zero_after_days:g} day"
                         f"{'' if self.zero_after_days == 1 else 's'} late")
        return "".join(parts)


def describe_duration(seconds: float) -> str:
    """A duration in words: ``'2 days 3 h'``, ``'5 h 12 min'``, ``'40 s'``.

    >>> describe_duration(2 * 86400 + 3 * 3600 + 59), describe_duration(15 * 60), describe_duration(40)
    ('2 days 3 h', '15 min', '40 s')
    """
    s = int(round(float(seconds or 0)))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        return f"{d} day{'s' if d != 1 else ''}" + (f" {h} h" if h else "")
    if h:
        return f"{h} h" + (f" {m} min" if m else "")
    if m:
        return f"{m} min"
    return f"{sec} s"


def course_plugin(course):
    """The late-submission plugin the course configures (``c.AssignLatePenalties.plugin_class`` in
    nbgrader_config.py, with its options), as ``nbgrader autograde`` would build it.

    Without that line it is nbgrader's own plugin (no penalty).
    """
    from nbgrader.plugins import LateSubmissionPlugin   # nbgrader: heavy (its apps import the notebook stack)
    config = course.config()
    cls = config.get("AssignLatePenalties", {}).get("plugin_class", LateSubmissionPlugin)
    if isinstance(cls, str):
        cls = import_item(cls)
    return cls(config=config)


def _describe_plugin(plugin) -> str:
    if hasattr(plugin, "describe"):
        return plugin.describe()
    return f"nbgrader's LateSubmissionPlugin, penalty_method={getattr(plugin, 'penalty_method', 'none')!r}"


def _penalise(gb, sub, plugin) -> float:
    """Set each notebook's ``late_submission_penalty`` of one submission, as nbgrader's AssignLatePenalties
    does (negative: 0; above the notebook's score: its score); returns the submission's total."""
    total = 0.0
    late = float(sub.total_seconds_late or 0) if sub.timestamp is not None else 0.0
    for nb in sub.notebooks:
        penalty = None
        if late > 0:
            penalty = plugin.late_submission_penalty(sub.student.id, nb.score, late)
            if penalty is not None:
                penalty = min(max(0.0, float(penalty)), float(nb.score or 0.0))
        nb.late_submission_penalty = penalty
        total += penalty or 0.0
    return total


def apply_penalties(course, assignments=None, students=None) -> dict:
    """Recompute the late penalties of the submissions in the course's gradebook with the course's rule.

    Idempotent; a submission's lateness is nbgrader's (its timestamp against
    the assignment's due date plus the student's extension).  Submissions
    without a timestamp (not handed in, or an extension granted before they
    were) get no penalty.

    Parameters
    ----------
    course : parcel_course.directory.Course
    assignments, students : list of str, optional
        Default: all.

    Returns
    -------
    dict
        ``(student, assignment) -> total penalty`` of every submission looked at.

    Example
    -------
    >>> apply_penalties(Course("."), ["01_convolution"])      # doctest: +SKIP
    {('ann', '01_convolution'): 0.0, ('fay', '01_convolution'): 1.5}
    """
    out = {}
    if not course.has_gradebook():
        return out
    plugin = course_plugin(course)
    with course.gradebook() as gb:
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for sub in gb.assignment_submissions(assignment.name):
                if students and sub.student.id not in students:
                    continue
                out[(sub.student.id, assignment.name)] = _penalise(gb, sub, plugin)
        gb.db.commit()
    return out


def grant_extension(course, student: str, assignment: str, days: float = 0, hours: float = 0) -> dict:
    """Give ``student`` ``days`` (and ``hours``) more for ``assignment``; 0 and 0 remove the extension.

    nbgrader keeps the extension on the student's submission: when the
    student has not handed in yet, an empty submission (no timestamp) holds
    it until they do, and grading fills it in.  Extensions do not stack:
    the last one granted counts.  Penalties already computed follow at once
    (:func:`apply_penalties`).

    Returns
    -------
    dict
        The student's row of :func:`list_extensions`.

    Example
    -------
    >>> grant_extension(Course("."), "ann", "01_convolution", days=2)["due"]   # doctest: +SKIP
    '2026-03-03 12:00 UTC'
    """
    from nbgrader.api import MissingEntry   # nbgrader: heavy (its apps import the notebook stack)
    if days < 0 or hours < 0:
        raise CourseError(f"An extension cannot be negative (got --days {days:g} --hours {hours:g}); "
                          "use 0 to remove one.")
    course.check_assignments([assignment])
    course.ensure_in_gradebook([assignment])
    with course.gradebook() as gb:
        a = gb.find_assignment(assignment)
        if a.duedate is None:
            raise CourseError(f"{assignment} has no due date, so an extension means nothing: set one first, "
                              f"e.g. `nbgrader db assignment add {assignment} --duedate='2026-03-01 23:59 UTC'`.")
        gb.update_or_create_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            gb.add_submission(assignment, student)
        gb.grant_extension(assignment, student, days=days, hours=hours)
    apply_penalties(course, [assignment], [student])
    return next(r for r in list_extensions(course, [assignment], all_students=True) if r["student"] == student)


def _utc(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt is not None else ""


def list_extensions(course, assignments=None, all_students: bool = False) -> list[dict]:
    """The extensions granted (or, ``all_students``, every submission), with lateness and penalty.

    Each row: student, assignment, assignment_due (the assignment's due date),
    extension (in words), due (the student's due date), submitted (the
    timestamp, '' when not handed in), seconds_late, late (in words),
    penalty (points), rule (the course's rule in words).

    Example
    -------
    >>> [(r["student"], r["extension"]) for r in list_extensions(Course("."))]   # doctest: +SKIP
    [('ann', '2 days')]
    """
    rows = []
    if not course.has_gradebook():
        return rows
    rule = _describe_plugin(course_plugin(course))
    with course.gradebook() as gb:
        for a in gb.assignments:
            if assignments and a.name not in assignments:
                continue
            for sub in gb.assignment_submissions(a.name):
                if not all_students and not sub.extension:
                    continue
                late = float(sub.total_seconds_late or 0) if sub.timestamp is not None else 0.0
                rows.append(dict(
                    student=sub.student.id, assignment=a.name, assignment_due=_utc(a.duedate),
                    extension=describe_duration(sub.extension.total_seconds()) if sub.extension else "",
                    due=_utc(sub.duedate), submitted=_utc(sub.timestamp), seconds_late=late,
                    late=describe_duration(late) if late > 0 else "",
                    penalty=float(sub.late_submission_penalty or 0.0), rule=rule))
    return sorted(rows, key=lambda r: (r["assignment"], r["student"]))


def late_rows(course) -> list[dict]:
    """Rows of :func:`list_extensions` for the report: every submission that is late or has an extension."""
    return [r for r in list_extensions(course, all_students=True)
            if (r["seconds_late"] > 0 or r["extension"]) and (r["submitted"] or r["extension"])]


# -- the feedback ------------------------------------------------------------------------------

from nbgrader.preprocessors import NbGraderPreprocessor  # noqa: E402
from .directory import CourseError
from traitlets.utils.importstring import import_item
import nbformat


class LatenessNote(NbGraderPreprocessor):
    """A feedback preprocessor: a note at the top of a late (or extended) submission's feedback.

    It says when the notebook was due (with the student's extension), when it
    was submitted, how late that is, the course's rule and the points taken
    off this notebook.  On time without an extension: nothing is added.
    """

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry   # nbgrader: heavy (its apps import the notebook stack)
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                sub = gb.find_submission(info["assignment"], info["student"])
                notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            except MissingEntry:
                return nb, resources
            late = float(sub.total_seconds_late or 0) if sub.timestamp is not None else 0.0
            if late <= 0 and not sub.extension:
                return nb, resources
            extension = (f" (with your extension of {describe_duration(sub.extension.total_seconds())})"
                         if sub.extension else "")
            penalty = float(notebook.late_submission_penalty or 0.0)
            lines = [f"**Due** {_utc(sub.duedate)}{extension}; **submitted** {_utc(sub.timestamp)}."]
            if late > 0:
                lines.append(f"**Late by {describe_duration(late)}.** The course's rule: "
                             f"{_describe_plugin(_plugin_from(self))}.")
                lines.append(f"**Penalty on this notebook: -{penalty:g} point{'s' if penalty != 1 else ''}** "
                             f"(score {float(notebook.score or 0):g} before it, "
                             f"{max(0.0, float(notebook.score or 0) - penalty):g} after).")
            else:
                lines.append("On time: no penalty.")
        cell = nbformat.v4.new_markdown_cell("\n\n".join(lines))
        cell.metadata["parcel_lateness"] = True
        nb.cells.insert(0, cell)
        return nb, resources


def _plugin_from(parent):
    """The rule configured where ``parent`` (an nbgrader app's preprocessor) reads its configuration."""
    from nbgrader.plugins import LateSubmissionPlugin   # nbgrader: heavy (its apps import the notebook stack)
    cls = parent.config.get("AssignLatePenalties", {}).get("plugin_class", LateSubmissionPlugin)
    return (import_item(cls) if isinstance(cls, str) else cls)(config=parent.config)


#: Where :class:`LatenessNote` goes in ``GenerateFeedback.preprocessors``.
LATENESS_NOTE = "parcel_course.late.LatenessNote"
