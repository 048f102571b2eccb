"""Before anything runs: the static scan of what the student wrote (:mod:`parcel_course.scan`), as flags."""
from __future__ import annotations

import json
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from ..scan import _restored_cells, instructor_cell_digests, scan_notebook
from .common import append_flags

__all__ = ["ScanSubmission"]

_MODULE_SUFFIXES = (".py", ".pyc", ".pth", ".so", ".pyd")


class ScanSubmission(NbGraderPreprocessor):
    """Flag the techniques of tampering in a submitted notebook, before nbgrader restores its cells.

    The first of autograde's sanitizing preprocessors: it sees the notebook as
    the student handed it in.  The instructor's own code cells, unchanged, are
    not scanned: their digests come from ``digests_path`` (JSON, notebook ->
    digests, written by ``parcel-course grade``'s worker) or else from the
    source notebook of the course (``<root>/source/<assignment>/<notebook>.ipynb``).
    A Python module submitted beside the notebooks is flagged too (once, with
    the first notebook of the submission).  Flags change no score.
    """

    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)
    digests_path = Unicode("", help="JSON file: notebook name -> digests of its instructor code cells "
                                    "('' : read the course's source notebook).").tag(config=True)

    def _digests(self, assignment: str, notebook: str) -> list:
        if self.digests_path:
            try:
                return json.loads(Path(self.digests_path).read_text()).get(notebook, [])
            except (OSError, ValueError):
                return []
        root = Path(self.config.CourseDirectory.get("root") or ".")
        source = self.config.CourseDirectory.get("source_directory") or "source"
        path = root / source / assignment / f"{notebook}.ipynb"
        return instructor_cell_digests(path) if path.is_file() else []

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, notebook = info["assignment"], info["notebook"]
        flags = []
        try:
            trusted = _restored_cells(info["db_url"], assignment, notebook)
            flags += scan_notebook(nb, notebook, self._digests(assignment, notebook), trusted)
            where = Path((resources.get("metadata") or {}).get("path") or ".")
            first = sorted(p.stem for p in where.glob("*.ipynb"))[:1] == [notebook]
            if first:
                for p in sorted(where.rglob("*")):
                    rel = str(p.relative_to(where))
                    if p.is_file() and (rel.endswith(_MODULE_SUFFIXES) or "__init__" in rel) \
                            and ".ipynb_checkpoints" not in rel:
                        flags.append(dict(notebook="", cell=rel, reason=(
                            "a Python module submitted beside the notebooks: the kernel would import it instead "
                            f"of the module of the same name ({Path(rel).parts[0].split('.')[0]}) that the tests "
                            "use")))
        except Exception as exc:  # noqa: BLE001 - a scan that fails is itself worth a look
            flags.append(dict(notebook=notebook, cell="", reason=f"the integrity scan failed: "
                                                                 f"{type(exc).__name__}: {exc}"))
        append_flags(self.flags_path, flags)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
