"""Feedback is made from the graded notebook only: nothing else of the submission is copied beside its page."""
from __future__ import annotations

import os
import stat

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

__all__ = ["FeedbackPagesOnly"]


class FeedbackPagesOnly(NbGraderPreprocessor):
    """Remove what nbgrader's ``generate_feedback`` copied beside the feedback pages.

    Before it converts the notebooks, nbgrader copies every other file of ``autograded/<student>/<assignment>/``
    into ``feedback/<student>/<assignment>/``; under plain ``nbgrader autograde`` that folder holds what the
    student handed in beside the notebooks (any file of theirs, or of the kernel's making).  This preprocessor,
    in ``GenerateFeedback.preprocessors`` on every path (:data:`parcel_course.config.FEEDBACK_PREPROCESSORS`),
    removes from the student's feedback folder everything that is not a page (``*.html``) before its page is
    written; it never follows a link (``os.walk`` does not; a link is removed, not its target).
    """

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader") or {}
        coursedir = CourseDirectory(config=self.config)
        dest = coursedir.format_path(coursedir.feedback_directory, info.get("student", ""), info.get("assignment", ""))
        if os.path.isdir(dest) and not os.path.islink(dest):
            for here, dirs, files in os.walk(dest, topdown=False):
                for name in files:
                    path = os.path.join(here, name)
                    if not (name.endswith(".html") and stat.S_ISREG(os.lstat(path).st_mode)):
                        os.unlink(path)
                for name in dirs:
                    path = os.path.join(here, name)
                    if os.path.islink(path):
                        os.unlink(path)
                    elif not os.listdir(path):
                        os.rmdir(path)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
