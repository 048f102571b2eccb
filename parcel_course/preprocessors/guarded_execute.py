"""nbgrader's Execute with the kernel in the sandbox, a cap on the output kept, and test outputs that cannot be cleared."""
from __future__ import annotations

import json
import time

import nbformat
from traitlets import Unicode

from ..scratch import drop_scratch, ensure_scratch
from .common import append_flags, append_sandbox_check, append_timing
from .sandboxed_execute import SandboxedExecute

__all__ = ["GuardedExecute"]


def _data_size(data) -> int:
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in (data or {}).values())


def _output_size(msg) -> int:
    """Characters an output message adds to a notebook, whatever message carried it."""
    c = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(c.get("text", ""))
    if msg.get("msg_type") == "error":
        return sum(len(t) for t in c.get("traceback", [])) + len(str(c.get("evalue", "")))
    return _data_size(c.get("data")) + len(json.dumps(c.get("metadata") or {}))


class GuardedExecute(SandboxedExecute):
    """The sandboxed Execute with a cap on the output kept, and test outputs that cannot be cleared.

    The caps are the notebook's limits (``max_output_mb`` per cell, ``max_notebook_output_mb`` in all),
    which :class:`~.sandboxed_execute.SandboxedExecute` receives for each notebook as ``self.limits``.
    """

    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)
    timings_path = Unicode("", help="File to which the kernel's start and the cells' time are appended "
                                    "('' : none).").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        ensure_scratch(resources)         # the kernel's working directory: never the folder graded into
        self._sizes, self._total, self._noted, self._flags = {}, 0, set(), []
        self._cell_seconds = 0.0
        t0 = time.perf_counter()
        try:
            return super().preprocess(nb, resources, km)
        except BaseException:
            drop_scratch(resources)       # no verification follows
            raise
        finally:
            why = getattr(getattr(self, "_watched_km", None), "watch_reason", "")
            if why:     # the kernel manager's watcher killed the kernel (sandbox.SandboxedKernelManager._watch)
                self._flags.append(dict(cell="", kind="killed", reason=f"killed: {why}"))
            name = ((resources or {}).get("nbgrader") or {}).get("notebook", "")
            append_flags(self.flags_path, [dict(f, notebook=name) for f in self._flags])
            # the kernel's start and shut-down (sandbox, interpreter) is what the run took beyond its cells
            append_timing(self.timings_path, name, cells=self._cell_seconds,
                          kernel=time.perf_counter() - t0 - self._cell_seconds)
            append_sandbox_check(self.timings_path, name, self.sandbox_check)

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

    @property
    def max_cell_output_mb(self) -> int:
        return self.limits.max_output_mb

    @property
    def max_notebook_output_mb(self) -> int:
        return self.limits.max_notebook_output_mb

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

    def _over_cap(self, cell_index, size) -> str:
        """'cell' or 'notebook' when ``size`` more characters in ``cell_index`` pass a cap, else ''."""
        if self._sizes.get(cell_index, 0) + size > self.max_cell_output_mb * 2**20:
            return "cell"
        return "notebook" if self._total + size > self.max_notebook_output_mb * 2**20 else ""

    def _note_dropped(self, outs, cell_index, which) -> None:
        if cell_index in self._noted:
            return
        self._noted.add(cell_index)
        cap = self.max_cell_output_mb if which == "cell" else self.max_notebook_output_mb
        outs.append(nbformat.v4.new_output(
            "stream", name="stdout",
            text=f"\n... output dropped: more than the {cap} MB a {which} may print while graded ...\n"))
        self.log.warning("output of cell %s over the %s cap, dropped", cell_index, which)
        self._flags.append(dict(cell=self._where(cell_index), reason=(
            f"printed more than the {cap} MB of output a {which} may print while graded; the rest was dropped")))

    def _update_display_id(self, display_id, msg):
        """``update_display_data`` (and outputs with a display id) rewrite earlier outputs in place, outside
        :meth:`output`: counted against the same caps, and dropped past them."""
        targets = [(ci, oi) for ci, ois in self._display_id_map.get(display_id, {}).items() for oi in ois]
        new = _data_size(msg.get("content", {}).get("data"))
        growth = {}
        for ci, oi in targets:
            try:
                old = _data_size(self.nb.cells[ci].outputs[oi].get("data"))
            except (IndexError, AttributeError):
                old = 0
            growth[ci] = growth.get(ci, 0) + max(0, new - old)
        for ci, extra in growth.items():
            which = self._over_cap(ci, extra) or ("notebook" if self._total + sum(growth.values()) >
                                                  self.max_notebook_output_mb * 2**20 else "")
            if which:
                self._note_dropped(self.nb.cells[ci].outputs, ci, which)
                return None
        for ci, extra in growth.items():
            self._sizes[ci] = self._sizes.get(ci, 0) + extra
            self._total += extra
        return super()._update_display_id(display_id, msg)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        """A cell whose execution the kernel reported as failed keeps an error output, even where the
        kernel sent none (an error is what scores a test cell zero)."""
        content = (exec_reply or {}).get("content") or {}
        if content.get("status") == "error" and not any(o.get("output_type") == "error" for o in cell.outputs):
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=str(content.get("ename") or "Error")[:200], evalue=str(content.get("evalue", ""))[:2000],
                traceback=["the kernel reported that this cell failed, and sent no error output"]))
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

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
            self._note_dropped(outs, cell_index, "cell" if used + size > cap_cell else "notebook")
            return kept
        self._sizes[cell_index] = used + size
        self._total += size
        return super().output(outs, msg, display_id, cell_index)

    def clear_output(self, outs, msg, cell_index):
        if self._is_test(cell_index):
            self.log.warning("ignored clear_output in test cell %s", cell_index)
            return
        return super().clear_output(outs, msg, cell_index)
