"""The wrong answer of each assignment, for the grading sanity checks.

They live in the package (``parcel_utils.course.mistakes``) because the demo's
simulated class makes the same mistakes: add an assignment's entry there.
"""
from parcel_utils.course.mistakes import MISTAKES as WRONG_ANSWERS  # noqa: F401
