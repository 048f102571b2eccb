"""The instructor workflow around nbgrader: authoring, release, grading, reports."""
