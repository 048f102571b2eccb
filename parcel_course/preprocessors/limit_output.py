"""nbgrader's LimitOutput with the lines kept per cell taken from the notebook's limits."""
from __future__ import annotations

from nbgrader.preprocessors import LimitOutput

from .common import notebook_limits

__all__ = ["AssignmentLimitOutput"]


class AssignmentLimitOutput(LimitOutput):
    """nbgrader's ``LimitOutput``, its ``max_lines`` the notebook's ``max_output_lines``
    (:func:`.common.notebook_limits`: ``c.GradingLimits`` with the assignment's ``per_assignment``
    overrides), not a configured value of its own.

    Example
    -------
    >>> import nbformat
    >>> from traitlets.config import Config
    >>> c = Config(); c.GradingLimits.per_assignment = {"a": {"max_output_lines": 3}}
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
    ...     nbformat.v4.new_output("stream", name="stdout", text="1\\n2\\n3\\n4\\n5\\n")])])
    >>> nb, _ = AssignmentLimitOutput(config=c).preprocess(nb, {"nbgrader": {"assignment": "a"}})
    >>> nb.cells[0].outputs[0].text
    '1\\n2\\n... Output truncated ...'
    """

    def preprocess(self, nb, resources):
        self.max_lines = notebook_limits(self.config, resources).max_output_lines
        return super().preprocess(nb, resources)
