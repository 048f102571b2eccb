"""Realistic student mistakes, one per assignment.

Used by the demo's simulated class and by the grading sanity tests: each
entry edits one answer cell of the reference solution (a plain text
replacement inside the cell whose nbgrader grade id is ``cell``) and names
the test cells that must then score zero (``loses``); every other autograded
test cell keeps full marks.
"""
MISTAKES: dict = {}
