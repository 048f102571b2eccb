"""nbgrader configuration of the parcel course.

Every path is relative to this file, so the checkout is the course directory:
`nbgrader ...` and `parcel-course ...` both work from here.  Environment
variables override the machine-specific parts:

PARCEL_EXCHANGE      the exchange root (default: ./exchange, ignored by git)
PARCEL_CELL_TIMEOUT  seconds a cell may run while grading (default 600)
"""
import os

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "parcel-course"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
# The .src.py scripts the notebooks are built from stay out of the student version.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.src.py"]

c.Exchange.root = os.environ.get("PARCEL_EXCHANGE", os.path.join(here, "exchange"))
c.Exchange.path_includes_course = True

c.ExecutePreprocessor.timeout = int(os.environ.get("PARCEL_CELL_TIMEOUT", "600"))
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback hides hidden-test code and shortens tracebacks, for plain `nbgrader generate_feedback` too
# (`parcel-course feedback --show-hidden-tests` shows everything).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402
from parcel_utils.course.feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
