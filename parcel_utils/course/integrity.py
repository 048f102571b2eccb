"""Grading that a student's code cannot subvert.

Once a submission's first cell has run, everything inside its kernel is the
student's: IPython's hooks (input and AST transformers, custom exception
handlers, traceback display, events), the modules the tests call (NumPy,
:mod:`parcel_utils.checks`, builtins), even whether the kernel lives to the
end of a test.  nbgrader scores a test cell from its outputs alone (no error,
no stderr: full marks), so any of these turns a failing test into a passing
one.  Nothing computed in the kernel can be trusted; this module adds three
things outside it, each one small and composed into nbgrader's autograde:

:class:`VerifyAttestations` (a preprocessor, right after the sandboxed Execute)
    The hidden tests of value (``parcel_utils.checks.attest``) publish what the
    student's function returned on inputs drawn from a named generator and
    seed.  This preprocessor reads the ``attest(...)`` calls from the
    instructor's copy of each test cell (the gradebook's, with literal
    arguments only), rebuilds the inputs and the reference values in the
    grader's own process, and compares.  A missing, malformed or wrong value
    appends an error to the cell (nbgrader then scores it zero); where the
    kernel's own output said the test passed, the submission is flagged as
    tampering.  The tests of a trained Keras model (``checks.attest_model``)
    work the same way with the model itself: the kernel saves it, and the
    grader loads the notebook's files in one fresh, sandboxed process of its
    own (:mod:`.verify_model`) and checks each there (its structure, its
    test accuracy).  A value with more than one right answer is checked by an
    instructor's function instead of compared (``compare="verify"``).
:func:`scan_notebook` (static, before execution)
    Looks through the code cells the student wrote (answer cells, added
    cells, edited instructor cells; not the locked cells nbgrader restores)
    for the techniques of tampering: IPython's hooks, ``sys`` hooks, writing
    attributes of imported modules, rebinding names the tests use, builtins,
    ``gc``/``ctypes``/``inspect``, exiting or killing the kernel, dynamic code,
    ``sys.modules``, reading course files, calling the reference
    implementation of the function being written.  Each hit is a flag (the
    instructor's report shows it); it changes no score by itself.
:class:`GuardedExecute` (the sandboxed Execute, with an output cap)
    Keeps at most ``max_cell_output_mb`` of output per cell and
    ``max_notebook_output_mb`` per notebook (errors always kept, truncated),
    and ignores ``clear_output`` in test cells, so a test's error cannot be
    wiped from its outputs.

Flags are written as JSON lines to ``flags_path`` (the worker reads them back).
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from traitlets import Integer, Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from ..checks import ATTEST_MIME, ATTEST_MODEL_MIME, attest_cases, compare_attested, decode_value, verify_attested, _resolve
from .sandbox import SandboxedExecute

__all__ = ["VerifyAttestations", "GuardedExecute", "scan_notebook", "scan_submission", "cell_digest",
           "parse_attest_calls", "parse_attest_model_calls", "ATTEST_ERROR"]

ATTEST_ERROR = "AttestationError"


def cell_digest(source: str) -> str:
    """A digest of a code cell's text (whitespace at the ends ignored)."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


# -- 1. attested hidden tests, verified outside the kernel -------------------------------

_ATTEST_KEYWORDS = {"key", "student_fn", "inputs", "seed", "reference", "rtol", "atol", "compare", "params", "name"}


def _calls_named(source: str, name: str):
    """The calls of ``name(...)`` (or ``x.name(...)``) in ``source``, in walk order; an error spec if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return {"key": "?", "error": f"the test cell does not parse: {exc}"}
    out = []
    for node in ast.walk(tree):
        f = node.func if isinstance(node, ast.Call) else None
        if (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None) == name:
            out.append(node)
    return out


def parse_attest_calls(source: str) -> list[dict]:
    """The ``attest(...)`` calls of a (trusted) test cell, with their literal arguments.

    A call whose arguments are not literals (but the student's function, the
    second argument) is returned with an ``"error"`` entry: the grader fails
    that check rather than guess.

    Example
    -------
    >>> parse_attest_calls('attest("relu", relu, inputs="parcel_utils.hidden_inputs:random_volume", seed=1, '
    ...                    'reference="parcel_utils.convolution:relu")')[0]["seed"]
    1
    """
    nodes = _calls_named(source, "attest")
    if isinstance(nodes, dict):
        return [nodes]
    calls = []
    for node in nodes:
        spec, err = {}, None
        try:
            if node.args:
                spec["key"] = ast.literal_eval(node.args[0])
            for i, a in enumerate(node.args[2:], start=2):
                spec[["key", "student_fn", "inputs", "seed", "reference", "rtol", "atol", "compare",
                      "params", "name"][i]] = ast.literal_eval(a)
            for kw in node.keywords:
                if kw.arg == "student_fn" or kw.arg not in _ATTEST_KEYWORDS:
                    continue
                spec[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, IndexError, TypeError, SyntaxError) as exc:
            err = f"attest(...) at line {node.lineno} has a non-literal argument ({exc})"
        for need in ("key", "inputs", "seed", "reference"):
            if need not in spec and err is None:
                err = f"attest(...) at line {node.lineno} lacks {need!r}"
        if err:
            spec["error"] = err
        spec.setdefault("key", f"line {node.lineno}")
        calls.append(spec)
    return calls


def parse_attest_model_calls(source: str) -> list[dict]:
    """The ``attest_model(key, model, verify=..., params=...)`` calls of a (trusted) test cell, literal arguments.

    Example
    -------
    >>> parse_attest_model_calls('attest_model("m", model, verify="parcel_utils.checks:check_model_accuracy", '
    ...                          'params={"assignment": "04_cnn", "key": "k"})')[0]["params"]["key"]
    'k'
    """
    nodes = _calls_named(source, "attest_model")
    if isinstance(nodes, dict):
        return [nodes]
    calls = []
    for node in nodes:
        spec = {}
        try:
            for name, a in zip(("key", None, "verify", "params"), node.args):
                if name:
                    spec[name] = ast.literal_eval(a)
            for kw in node.keywords:
                if kw.arg in ("key", "verify", "params"):
                    spec[kw.arg] = ast.literal_eval(kw.value)
            spec["record"] = len(node.args) > 4 or any(kw.arg == "record" for kw in node.keywords)
        except (ValueError, TypeError, SyntaxError) as exc:
            spec["error"] = f"attest_model(...) at line {node.lineno} has a non-literal argument ({exc})"
        for need in ("key", "verify"):
            if need not in spec:
                spec.setdefault("error", f"attest_model(...) at line {node.lineno} lacks {need!r}")
        if not isinstance(spec.get("key", ""), str) or not re.fullmatch(r"[A-Za-z0-9_]+", spec.get("key", "")):
            spec.setdefault("error", f"attest_model(...) at line {node.lineno} has a bad key")
            spec["key"] = f"line {node.lineno}"
        calls.append(spec)
    return calls


def _records_problem(spec: dict, records: list, what: str) -> str | None:
    """What is wrong with a check's spec or with the number of records its kernel published, if anything."""
    if spec.get("error"):
        return spec["error"]
    if not records:
        return f"no attested {what}: the check did not run to its end in the kernel"
    if len(records) > 1:
        return f"{len(records)} attested {what}s for one check: published more than once"
    return None


def verify_models(items, notebook_dir, sandbox="auto", timeout=600, threads=0) -> list:
    """For each ``(spec, records)`` of an attested model, why it fails (None if it passes), all in one checker process."""
    from ..checks import ATTEST_MODEL_DIR
    from .verify_model import verify_saved_models
    whys = [_records_problem(spec, records, "model") for spec, records in items]
    jobs, todo = [], []
    for i, (spec, records) in enumerate(items):
        if whys[i] is not None:
            continue
        params = dict(spec.get("params") or {})
        if spec.get("record"):            # what the kernel knew of the model (a history), published with the key
            rec = records[0].get("record") if isinstance(records[0], dict) else None
            try:
                params["record"] = decode_value(rec).ravel().tolist()
            except (ValueError, TypeError) as exc:
                whys[i] = f"the attested record is {exc}" if rec is not None else "no attested record"
                continue
        jobs.append((Path(notebook_dir) / ATTEST_MODEL_DIR / f"{spec['key']}.keras", spec["verify"], params))
        todo.append(i)
    for i, why in zip(todo, verify_saved_models(jobs, sandbox=sandbox, timeout=timeout, threads=threads)):
        whys[i] = why
    return whys


def verify_model_one(spec: dict, records: list, notebook_dir, sandbox="auto", timeout=600, threads=0) -> str | None:
    """Why the model attested for ``spec`` fails; None if the grader's own check of the saved file passes."""
    return verify_models([(spec, records)], notebook_dir, sandbox, timeout, threads)[0]


def verify_one(spec: dict, records: list) -> str | None:
    """Why the attested values ``records`` (the published dicts of one key) fail ``spec``; None if they pass."""
    why = _records_problem(spec, records, "value")
    if why:
        return why
    rec = records[0]
    values = rec.get("values") if isinstance(rec, dict) else None
    try:
        cases = attest_cases(spec["inputs"], spec["seed"], spec.get("params"))
        ref_fn = _resolve(spec["reference"], "reference")
    except Exception as exc:  # noqa: BLE001 - the instructor's spec is broken: fail, say why
        return f"the grader cannot build the check {spec['key']!r}: {type(exc).__name__}: {exc}"
    if not isinstance(values, list) or len(values) != len(cases):
        return (f"malformed attestation: {len(values) if isinstance(values, list) else 'no'} values "
                f"for {len(cases)} cases")
    for (args, kwargs, label), record in zip(cases, values):
        if spec.get("compare") == "verify":
            try:
                verify_attested(ref_fn, record, args, kwargs, name=f"{spec.get('name') or spec['key']} on {label}")
            except AssertionError as exc:
                return str(exc)
            except Exception as exc:  # noqa: BLE001 - a value the check cannot even read fails it
                return f"{spec.get('name') or spec['key']} on {label}: the check failed: {type(exc).__name__}: {exc}"
            continue
        expected = ref_fn(*args, **kwargs)          # computed here, in the grader's process
        try:
            value = decode_value(record)
        except (ValueError, TypeError) as exc:
            return f"{spec.get('name') or spec['key']} on {label}: the returned value is {exc}"
        try:
            compare_attested(value, expected, spec.get("compare", "close"), spec.get("rtol", 1e-5),
                             spec.get("atol", 1e-6), name=f"{spec.get('name') or spec['key']} on {label}")
        except AssertionError as exc:
            return str(exc)
    return None


def _kernel_says_pass(cell) -> bool:
    """nbgrader's reading of a test cell's outputs: no error and no stderr means full marks."""
    return not any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
                   for o in cell.get("outputs", []))


def _error_output(ename, evalue) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


def _append_flags(path: str, flags: list) -> None:
    if path and flags:
        with open(path, "a") as fh:
            for f in flags:
                fh.write(json.dumps(f) + "\n")


class VerifyAttestations(NbGraderPreprocessor):
    """Recompute the attested hidden tests outside the kernel (see the module's docstring).

    Runs after the kernel has executed the notebook and before
    ``SaveAutoGrades``; the test cells' code is read from the gradebook.
    """

    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)
    model_sandbox = Unicode("auto", help="Sandbox of the process that checks attested models: 'bwrap', 'none' "
                                         "or 'auto'.").tag(config=True)
    model_timeout = Integer(600, help="Seconds for the check of one attested model.").tag(config=True)
    model_threads = Integer(0, help="Compute threads of that process (0: no cap).").tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry
        info = resources["nbgrader"]
        notebook = info["notebook"]
        notebook_dir = (resources.get("metadata") or {}).get("path") or "."
        flags, pending = [], []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                gid = meta.get("grade_id")
                if cell.cell_type != "code" or not gid:
                    continue
                try:
                    src = gb.find_source_cell(gid, notebook, info["assignment"])
                    gb.find_graded_cell(gid, notebook, info["assignment"])
                except MissingEntry:
                    continue                      # not a test cell of the instructor's
                if src.cell_type != "code" or "attest" not in src.source:
                    continue
                specs = parse_attest_calls(src.source)
                model_specs = parse_attest_model_calls(src.source) if "attest_model" in src.source else []
                if not specs and not model_specs:
                    continue
                published, models, kept = {}, {}, []
                for o in cell.get("outputs", []):
                    data = o.get("data", {}) if o.get("output_type") in ("display_data", "execute_result") else {}
                    if ATTEST_MIME in data or ATTEST_MODEL_MIME in data:
                        rec = data.get(ATTEST_MIME, data.get(ATTEST_MODEL_MIME))
                        key = rec.get("key") if isinstance(rec, dict) else None
                        (published if ATTEST_MIME in data else models).setdefault(key, []).append(rec)
                    else:
                        kept.append(o)
                pending.append((cell, gid, specs, model_specs, published, models, kept))
        # every attested model of the notebook is checked in one process (Keras imported once)
        items = [(spec, models.get(spec["key"], []))
                 for _cell, _gid, _specs, model_specs, _published, models, _kept in pending for spec in model_specs]
        model_whys = iter(verify_models(items, notebook_dir, self.model_sandbox, self.model_timeout,
                                        self.model_threads))
        for cell, gid, specs, model_specs, published, models, kept in pending:
            kernel_pass = _kernel_says_pass(cell)
            failures = []
            for spec in specs:
                why = verify_one(spec, published.get(spec["key"], []))
                if why:
                    failures.append(f"{spec['key']}: {why}")
            for spec in model_specs:
                why = next(model_whys)
                if why:
                    failures.append(f"{spec['key']}: {why}")
            unknown = sorted(str(k) for k in published if k not in {s["key"] for s in specs})
            unknown += sorted(str(k) for k in models if k not in {s["key"] for s in model_specs})
            if unknown:
                failures.append(f"values attested for checks this cell does not make: {', '.join(unknown)}")
            cell.outputs = kept                 # the attested values have done their job
            if failures:
                reason = "; ".join(failures)
                cell.outputs.append(_error_output(ATTEST_ERROR, "the grader's own check failed: " + reason))
                if kernel_pass:
                    flags.append(dict(notebook=notebook, cell=gid, reason=(
                        "tampering: the test cell reported success in the kernel, but the grader's "
                        "out-of-process check failed (" + reason[:400] + "); scored zero")))
                self.log.info("attestation failed in %s/%s: %s", notebook, gid, reason[:300])
        _append_flags(self.flags_path, flags)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources


# -- 2. output cap, no clearing of test outputs ------------------------------------------

def _output_size(msg) -> int:
    c = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(c.get("text", ""))
    if msg.get("msg_type") == "error":
        return sum(len(t) for t in c.get("traceback", [])) + len(str(c.get("evalue", "")))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in c.get("data", {}).values())


class GuardedExecute(SandboxedExecute):
    """The sandboxed Execute with a cap on the output kept, and test outputs that cannot be cleared."""

    max_cell_output_mb = Integer(10, help="Output kept per cell, MB (errors are always kept).").tag(config=True)
    max_notebook_output_mb = Integer(100, help="Output kept per notebook, MB.").tag(config=True)
    flags_path = Unicode("", help="File to which flags are appended as JSON lines ('' : none).").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._sizes, self._total, self._noted, self._flags = {}, 0, set(), []
        try:
            return super().preprocess(nb, resources, km)
        finally:
            name = ((resources or {}).get("nbgrader") or {}).get("notebook", "")
            _append_flags(self.flags_path, [dict(f, notebook=name) for f in self._flags])

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


# -- 3. static scan of what the student wrote --------------------------------------------

# attribute or name -> what it is
HOOKS = {
    "get_ipython": "IPython's shell object (get_ipython), through which its hooks are changed",
    "input_transformers_cleanup": "an IPython input transformer (rewrites cells before they run)",
    "input_transformers_post": "an IPython input transformer (rewrites cells before they run)",
    "input_transformer_manager": "an IPython input transformer (rewrites cells before they run)",
    "ast_transformers": "an IPython AST transformer (rewrites cells before they run)",
    "set_custom_exc": "IPython's set_custom_exc (swallows exceptions of later cells)",
    "showtraceback": "IPython's showtraceback (hides errors)",
    "_showtraceback": "IPython's showtraceback (hides errors)",
    "showsyntaxerror": "IPython's showsyntaxerror (hides errors)",
    "register_magic_function": "a new IPython magic",
    "register_magics": "a new IPython magic",
    "run_cell": "IPython's run_cell (how cells run)",
    "run_cell_async": "IPython's run_cell (how cells run)",
    "run_ast_nodes": "IPython's run_ast_nodes (how cells run)",
    "display_pub": "IPython's display publisher (what a cell outputs)",
    "excepthook": "sys.excepthook (how errors are shown)",
    "displayhook": "the display hook (what a cell outputs)",
    "settrace": "a trace function (sys.settrace), which sees and changes every running frame",
    "setprofile": "a profile function (sys.setprofile)",
    "_getframe": "sys._getframe (reaches the frames of the tests)",
    "f_globals": "a frame's globals (reaches the namespace of the tests)",
    "f_locals": "a frame's locals", "f_back": "the calling frame",
    "__globals__": "a function's globals", "__code__": "a function's code object (rewrites a function)",
    "__subclasses__": "__subclasses__ (reaches classes it did not import)",
    "__builtins__": "the builtins (changes what every test calls)",
    "get_objects": "gc.get_objects (reaches every live object, the tests' included)",
    "get_referrers": "gc.get_referrers (reaches the objects of the tests)",
    "_exit": "os._exit (kills the kernel at a chosen moment)", "exit": "sys.exit (ends the kernel)",
    "kill": "os.kill (kills a process, the kernel's included)", "killpg": "os.killpg (kills processes)",
    "abort": "os.abort (kills the kernel)", "fork": "os.fork (starts processes)",
    "forkpty": "os.forkpty (starts processes)", "system": "os.system (runs shell commands)",
    "popen": "os.popen (runs shell commands)",
    "modules": "sys.modules (swaps the modules the tests import)",
    "meta_path": "sys.meta_path (swaps the modules the tests import)",
    "path_hooks": "sys.path_hooks (swaps the modules the tests import)",
}
EVENT_METHODS = {"register", "unregister", "trigger"}
BAD_IMPORTS = {
    "ctypes": "ctypes (writes memory directly)", "builtins": "builtins (changes what every test calls)",
    "__builtin__": "builtins", "importlib": "importlib (reloads or swaps modules)",
    "gc": "gc (reaches every live object)", "inspect": "inspect (reads the tests' frames or sources)",
    "ipykernel": "ipykernel (the kernel's internals)", "IPython.core": "IPython's internals",
    "IPython.terminal": "IPython's internals", "traitlets": "traitlets (IPython's configuration)",
    "subprocess": "subprocess (starts processes)", "multiprocessing": "multiprocessing (starts processes)",
    "socket": "socket (network)", "urllib": "urllib (network)", "requests": "requests (network)",
    "http": "http (network)", "signal": "signal (signal handlers)", "pty": "pty", "resource": "resource limits",
    "nbformat": "nbformat (notebook files)", "nbgrader": "nbgrader", "jupyter_client": "jupyter_client",
    "zmq": "zmq (the kernel's channels)", "sqlite3": "sqlite3 (the gradebook)",
    "parcel_utils.hidden_inputs": "the hidden tests' inputs (parcel_utils.hidden_inputs)",
    "parcel_utils.course": "the grader (parcel_utils.course)",
}
DYNAMIC = {"exec": "exec of built code", "eval": "eval of built code", "compile": "compile of built code",
           "__import__": "__import__ (imports hidden from the reader)", "globals": "globals() (the namespace of the tests)",
           "vars": "vars() of a module or namespace", "setattr": "setattr on a module",
           "delattr": "delattr on a module", "exit": "exit() (ends the kernel)", "quit": "quit() (ends the kernel)",
           "breakpoint": "breakpoint()"}
COURSE_PATHS = re.compile(r"gradebook|\.src\.py|nbgrader_config|/submitted|/autograded|exchange|/source/|"
                          r"hidden_inputs|\.\./", re.I)


def _module_of(node):
    """The root Name of an attribute chain (``np`` for ``np.testing.assert_allclose``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _imported_names(sources) -> dict:
    """name -> module it was imported from (for ``import a.b as x`` and ``from a import b as x``)."""
    names = {}
    for src in sources:
        try:
            tree = ast.parse(_python(src))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _python(source: str) -> str:
    """Cell text as Python (IPython's magics and shell escapes turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        return source


def scan_cell(source: str, modules: dict, protected: dict, exercises=()) -> list[str]:
    """Reasons this cell looks like tampering (empty if none).

    Parameters
    ----------
    source : str
        The cell's code as the student wrote it.
    modules : dict
        Names bound to imported modules or objects in the notebook (name -> dotted origin).
    protected : dict
        Names the tests use that a student has no reason to rebind (test helpers, builtins),
        with what the instructor's cells bound them to ('' for builtins).
    exercises : set
        The student's functions the tests call (e.g. ``correlate2d``): binding one
        of them to something of ``parcel_utils`` is calling the reference.
    """
    reasons = []

    def hit(why):
        if why not in reasons:
            reasons.append(why)

    code = _python(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # unparseable: fall back on words
        for word, why in {**HOOKS, **{k: v for k, v in DYNAMIC.items() if k in ("exec", "eval", "compile")}}.items():
            if re.search(rf"\b{re.escape(word)}\b", source):
                hit(f"uses {why}")
        return reasons
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    declared_global = {n for g in ast.walk(tree) if isinstance(g, ast.Global) for n in g.names}
    top = _module_scope(tree)            # a local variable named like a builtin changes nothing for the tests
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in HOOKS:
            hit(f"uses {HOOKS[node.id]}")
        elif isinstance(node, ast.Attribute):
            if node.attr in HOOKS:
                hit(f"uses {HOOKS[node.attr]}")
            elif node.attr in EVENT_METHODS and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
                hit("registers an IPython event callback (runs code around every cell)")
            elif node.attr in ("__dict__", "__file__", "__loader__", "__spec__") and _module_of(node) in modules:
                hit(f"reads {_module_of(node)}.{node.attr} (module internals)")
            root = _module_of(node)
            origin = modules.get(root, "")
            if origin.startswith("parcel_utils") and node.attr in defined:
                hit(f"calls the reference implementation {origin}.{node.attr} in the cell that defines "
                    f"{node.attr}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                for bad, why in BAD_IMPORTS.items():
                    if m == bad or m.startswith(bad + "."):
                        hit(f"imports {why}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parcel_utils"):
                for a in node.names:
                    if a.name in defined or (a.asname and a.asname in defined):
                        hit(f"imports the reference implementation {node.module}.{a.name} into the cell that "
                            f"defines {a.asname or a.name}")
                    if a.name == "*":
                        hit(f"imports everything from {node.module} (the reference implementation)")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else None
            if name in ("exec", "eval", "compile", "__import__", "exit", "quit", "breakpoint", "globals"):
                hit(f"calls {DYNAMIC[name]}")
            elif name in ("setattr", "delattr") and node.args and _module_of(node.args[0]) in modules:
                hit(f"calls {name} on the imported {_module_of(node.args[0])}")
            elif name == "vars" and node.args and _module_of(node.args[0]) in modules:
                hit(f"calls vars() on the imported {_module_of(node.args[0])}")
            elif name == "getattr" and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant) \
                    and _module_of(node.args[0]) in modules:
                hit(f"reads an attribute of the imported {_module_of(node.args[0])} by a computed name")
            elif name == "open" or (isinstance(f, ast.Attribute) and f.attr in ("listdir", "scandir", "walk", "glob",
                                                                              "rglob", "read_text", "read_bytes")):
                for c in ast.walk(node):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) and COURSE_PATHS.search(c.value):
                        hit(f"opens course files ({c.value[:60]!r})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and COURSE_PATHS.search(node.value) \
                and ("/" in node.value or node.value.endswith((".db", ".py", ".ipynb"))):
            hit(f"names a course file ({node.value[:60]!r})")
        # an exercise's name bound to the reference implementation
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Attribute, ast.Name)):
            src_root = _module_of(node.value) if isinstance(node.value, ast.Attribute) else node.value.id
            origin = modules.get(src_root, "")
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id in exercises and origin.startswith("parcel_utils"):
                    hit(f"binds {t.id} to the reference implementation ({origin})")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parcel_utils"):
            for a in node.names:
                if (a.asname or a.name) in exercises:
                    hit(f"imports the reference implementation {node.module}.{a.name} as {a.asname or a.name}")
        # assignments: module attributes and protected names
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.With)):
            targets = [node.target] if isinstance(node, (ast.For, ast.AsyncFor)) else \
                [i.optional_vars for i in node.items if i.optional_vars is not None]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and _module_of(sub) in modules and \
                        isinstance(sub.ctx, (ast.Store, ast.Del)):
                    hit(f"changes the imported module {_module_of(sub)} ({modules[_module_of(sub)]}): "
                        f"monkeypatching what the tests call")
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)) and sub.id in protected \
                        and (id(node) in top or sub.id in declared_global):
                    hit(f"rebinds {sub.id!r}, which the tests call")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected \
                and (id(node) in top or node.name in declared_global):
            hit(f"redefines {node.name!r}, which the tests call")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if isinstance(node, ast.Import):
                    bound, origin = a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0]
                else:
                    bound, origin = a.asname or a.name, f"{node.module}.{a.name}"
                want = protected.get(bound, origin) or ""
                if bound in protected and origin.split(".")[0] != want.split(".")[0] or \
                        (bound in protected and "." in want and isinstance(node, ast.ImportFrom) and origin != want):
                    hit(f"rebinds {bound!r}, which the tests call, by an import of {origin}")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            for n in node.names:
                if n in protected:
                    hit(f"rebinds {n!r}, which the tests call")
    return reasons


_BUILTIN_NAMES = set(dir(__import__("builtins")))


def _module_scope(tree) -> set:
    """ids of the nodes that run in the notebook's namespace (not inside a function or class body)."""
    out = set()
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        out.add(id(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue                      # the def itself binds at module level; its body does not
        todo.extend(ast.iter_child_nodes(node))
    return out


def scan_notebook(nb, notebook: str, instructor_cells=(), trusted_sources=()) -> list[dict]:
    """Flags of one submitted notebook: ``[{notebook, cell, reason}, ...]``.

    Parameters
    ----------
    nb : NotebookNode
        The notebook as submitted (before nbgrader restores anything).
    notebook : str
        Its name (for the flags).
    instructor_cells : iterable of str
        :func:`cell_digest` of the instructor's own code cells (not the answer
        cells): such a cell, unchanged, is not scanned.
    trusted_sources : dict or iterable
        The instructor's copies of the cells nbgrader restores before grading,
        ``grade_id -> source`` (from the gradebook): these are not scanned and
        tell which names the tests use.

    Example
    -------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy as np\\nnp.allclose = lambda *a, **k: True")])
    >>> [f["reason"] for f in scan_notebook(nb, "demo")]   # doctest: +ELLIPSIS
    ['changes the imported module np (numpy): monkeypatching what the tests call']
    """
    known = set(instructor_cells)
    trusted = dict(trusted_sources) if not isinstance(trusted_sources, dict) else trusted_sources
    code = [c for c in nb.cells if c.cell_type == "code"]
    restored = set(trusted)
    instructor_src = [c.source for c in code if cell_digest(c.source) in known] + list(trusted.values())
    modules = _imported_names(instructor_src + [c.source for c in code])
    # names the tests use: imported by the instructor's cells, and builtins called in the test cells
    imported_by_instructor = _imported_names(instructor_src)
    test_names = set()
    for src in trusted.values():
        try:
            test_names |= {n.id for n in ast.walk(ast.parse(_python(src))) if isinstance(n, ast.Name)}
        except SyntaxError:
            pass
    protected = {n: "" for n in (test_names & _BUILTIN_NAMES)}
    protected.update({n: f"parcel_utils.checks.{n}" for n in ("attest", "check_close", "check_equal", "check_shape")})
    protected.update(imported_by_instructor)
    exercises = {n for n in test_names if not n.startswith("_")} - _BUILTIN_NAMES - set(imported_by_instructor)
    flags = []
    for i, cell in enumerate(code, start=1):
        meta = cell.metadata.get("nbgrader", {}) if isinstance(cell.metadata, dict) else {}
        gid = meta.get("grade_id")
        if gid in restored:
            continue                                   # nbgrader puts the instructor's code back
        if cell_digest(cell.source) in known:
            continue
        where = gid or f"code cell {i} (added or edited by the student)"
        # a student's own imports are fine; rebinding what the instructor imported is not
        for reason in scan_cell(cell.source, modules, protected, exercises):
            flags.append(dict(notebook=notebook, cell=where, reason=reason))
    return flags


def scan_submission(files: dict, instructor_cells: dict | None = None, gradebook_url: str | None = None,
                    assignment: str | None = None) -> list[dict]:
    """Flags of every notebook of a submission (``relative path -> bytes``), before it runs.

    ``instructor_cells`` maps a notebook name to the digests of its instructor
    code cells; ``gradebook_url`` and ``assignment`` give the restored cells.
    A notebook that does not parse is itself flagged.
    """
    flags = []
    for rel, data in sorted(files.items()):
        if rel.endswith((".py", ".pyc", ".pth", ".so", ".pyd")) or "__init__" in rel:
            flags.append(dict(notebook="", cell=rel, reason=(
                "a Python module submitted beside the notebooks: the kernel would import it instead of the "
                f"module of the same name ({Path(rel).parts[0].split('.')[0]}) that the tests use")))
            continue
        if not rel.endswith(".ipynb") or "/" in rel.strip("/"):
            continue
        name = Path(rel).stem
        try:
            nb = nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
        except Exception as exc:  # noqa: BLE001
            flags.append(dict(notebook=name, cell="", reason=f"the notebook does not parse ({type(exc).__name__})"))
            continue
        trusted = {}
        if gradebook_url and assignment:
            trusted = _restored_cells(gradebook_url, assignment, name)
        flags += scan_notebook(nb, name, (instructor_cells or {}).get(name, ()), trusted)
    return flags


def _restored_cells(db_url: str, assignment: str, notebook: str) -> dict:
    """grade_id -> source of the locked cells nbgrader restores from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url) as gb:
        try:
            nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return {}
        return {c.name: c.source for c in nb.source_cells if c.locked and c.cell_type == "code"}


def instructor_cell_digests(notebook_path) -> list[str]:
    """Digests of the code cells of an instructor notebook that are not answer cells."""
    nb = nbformat.read(notebook_path, as_version=4)
    return [cell_digest(c.source) for c in nb.cells
            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("solution")]
