"""nbgrader's Execute with the kernel in the sandbox, a cap on the output kept, and test outputs that cannot be cleared."""
from __future__ import annotations

import json
import time

import nbformat
from traitlets import Unicode

from ..limits import GradingLimits
from ..sandbox import SandboxedExecute
from . import append_flags, append_timing

__all__ = ["GuardedExecute"]


def _output_size(msg) -> int:
    c = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(c.get("text", ""))
    if msg.get("msg_type") == "error":
        return sum(len(t) for t in c.get("traceback", [])) + len(str(c.get("evalue", "")))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in c.get("data", {}).values())


class GuardedExecute(SandboxedExecute):
    """The sandboxed Execute with a cap on the output kept, and test outputs that cannot be cleared."""

    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)
    timings_path = Unicode("", help="File to which the kernel's start and the cells' time are appended "
                                    "('' : none).").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._sizes, self._total, self._noted, self._flags = {}, 0, set(), []
        self._cell_seconds = 0.0
        limits = GradingLimits(config=self.config)
        self.max_cell_output_mb, self.max_notebook_output_mb = limits.max_output_mb, limits.max_notebook_output_mb
        t0 = time.perf_counter()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            why = getattr(getattr(self, "_watched_km", None), "watch_reason", "")
            if why:     # the kernel manager's watcher killed the kernel (sandbox.SandboxedKernelManager._watch)
                self._flags.append(dict(cell="", kind="killed", reason=f"killed: {why}"))
            name = ((resources or {}).get("nbgrader") or {}).get("notebook", "")
            append_flags(self.flags_path, [dict(f, notebook=name) for f in self._flags])
            # the kernel's start and shut-down (sandbox, interpreter) is what the run took beyond its cells
            append_timing(self.timings_path, name, cells=self._cell_seconds,
                          kernel=time.perf_counter() - t0 - self._cell_seconds)

    def preprocess_cell(self, cell, resources, index):
        t0 = time.perf_counter()
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            self._cell_seconds += time.perf_counter() - t0

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        self._watched_km = km           # nbclient drops self.km when it shuts the kernel down
        return km

    def _where(self, cell_index) -> str:
        try:
            gid = self.nb.cells[cell_index].metadata.get("nbgrader", {}).get("grade_id")
        except (AttributeError, IndexError):
            gid = None
        return gid or f"cell {cell_index + 1}"

    def _is_test(self, cell_index) -> bool:
        try:
            meta = self.nb.cells[cell_index].metadata.get("nbgrader", {})
        except (AttributeError, IndexError):
            return False
        return bool(meta.get("grade")) and not meta.get("solution")

    def output(self, outs, msg, display_id, cell_index):
        size = _output_size(msg)
        used = self._sizes.get(cell_index, 0)
        cap_cell, cap_nb = self.max_cell_output_mb * 2**20, self.max_notebook_output_mb * 2**20
        if used + size > cap_cell or self._total + size > cap_nb:
            if msg.get("msg_type") == "error":       # never lose an error; shorten it
                c = msg["content"]
                c["traceback"] = [t[:2000] for t in c.get("traceback", [])[:50]]
                c["evalue"] = str(c.get("evalue", ""))[:2000]
                return super().output(outs, msg, display_id, cell_index)
            room = min(cap_cell - used, cap_nb - self._total)
            kept = None
            if msg.get("msg_type") == "stream" and room > 0:      # keep the beginning of the text
                msg["content"]["text"] = msg["content"].get("text", "")[:room]
                self._sizes[cell_index] = used + room
                self._total += room
                kept = super().output(outs, msg, display_id, cell_index)
            if cell_index not in self._noted:
                self._noted.add(cell_index)
                which = "cell" if used + size > cap_cell else "notebook"
                cap = self.max_cell_output_mb if which == "cell" else self.max_notebook_output_mb
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n... output dropped: more than the {cap} MB a {which} may print while graded ...\n"))
                self.log.warning("output of cell %s over the %s cap, dropped", cell_index, which)
                self._flags.append(dict(cell=self._where(cell_index), reason=(
                    f"printed more than the {cap} MB of output a {which} may print while graded; the rest was "
                    "dropped")))
            return kept
        self._sizes[cell_index] = used + size
        self._total += size
        return super().output(outs, msg, display_id, cell_index)

    def clear_output(self, outs, msg, cell_index):
        if self._is_test(cell_index):
            self.log.warning("ignored clear_output in test cell %s", cell_index)
            return
        return super().clear_output(outs, msg, cell_index)
