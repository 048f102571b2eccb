"""Static scan of what a student wrote, before it runs: the techniques of tampering.

Looks through the code cells the student wrote (answer cells, added cells,
edited instructor cells; not the locked cells nbgrader restores) for
IPython's hooks, ``sys`` hooks, writing attributes of imported modules,
rebinding names the tests use, builtins, ``gc``/``ctypes``/``inspect``,
exiting or killing the kernel, dynamic code, ``sys.modules``, reading course
files, importing the instructor's package.  Each hit is a flag (the
instructor's report shows it); it changes no score by itself.

IPython's magics and shell escapes
----------------------------------
IPython turns ``%magic`` and ``!command`` into calls of its shell object
(``get_ipython().run_line_magic('time', ...)``, ``get_ipython().system(...)``),
which the scan reads as such calls.  What a student writes while working,
on Colab above all, is not flagged:

- shell escapes (``!pip install ...``, ``!ls``, ``x = !ls``, ``%%bash``,
  ``%sx``): the command runs in a child process, which cannot reach the
  kernel's hooks, namespace or imported modules; what it could do to files
  or processes is the sandbox's to stop.  Still flagged: a command that
  reaches other processes (``kill``, ``gdb``, ``/proc/``: the kernel is one),
  that names a course file (as any string does), and a ``pip`` (or ``%pip``,
  ``%conda``) that uninstalls, upgrades, force-reinstalls or installs in
  editable mode or elsewhere (``-U``, ``--force-reinstall``, ``-e``,
  ``--target``, ``--user``): that changes the packages the tests import
  where grading runs without the sandbox.
- magics that only show, time or configure plotting (``%matplotlib``,
  ``%pip``, ``%conda``, ``%time``, ``%timeit``, ``%%time``, ``%%timeit``,
  ``%who``, ``obj?``, ``%pwd``, ``%cd``, ``%precision``, ``%xmode``,
  ``%config InlineBackend...``, ``%load_ext``/``%tensorboard`` of
  TensorBoard).  ``%time`` and ``%timeit`` run Python code given as a
  string: that code is scanned as if it were the cell.
- every other magic is flagged, by name: ``%load_ext`` of anything else (an
  extension receives the shell object and may register hooks; autoreload
  registers one that runs around every cell), ``%run``, ``%load`` and
  ``%%writefile`` (code the scan does not see, or a module written beside
  the notebook), ``%config`` of anything but ``InlineBackend`` (the shell's
  own configuration), ``%env`` (the kernel's environment), ``%pdb``,
  ``%debug``, ``%%capture``, ``%%javascript`` and the rest.
- ``os.system``, ``os.popen`` and ``subprocess`` stay flagged: their command
  is usually built when the code runs, where a shell escape's is text the
  scan reads (a shell escape that starts with ``{...}`` or ``$`` is flagged
  for the same reason).
- anything else done with the shell object, ``get_ipython()`` bound to a
  name, its events, input transformers, display hook, ``set_custom_exc``,
  ``run_cell``, is what tampering is made of, and stays flagged.

Example
-------
>>> scan_cell("%matplotlib inline\\n!pip install -q parcel_utils-0.1.0-py3-none-any.whl\\n%time x = 1", {}, {})
[]
>>> scan_cell("get_ipython().events.register('post_run_cell', print)", {}, {})   # doctest: +NORMALIZE_WHITESPACE
['registers an IPython event callback (runs code around every cell)',
 "uses IPython's shell object (get_ipython), through which its hooks are changed"]
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import re
from pathlib import Path
from typing import NamedTuple

import nbformat

__all__ = ["scan_notebook", "scan_submission", "scan_cell", "cell_digest", "instructor_cell_digests"]


def cell_digest(source: str) -> str:
    """A digest of a code cell's text (whitespace at the ends ignored)."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


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
    "parcel_course": "the instructor's package (parcel_course: the reference answers and the grader)",
}
DYNAMIC = {"exec": "exec of built code", "eval": "eval of built code", "compile": "compile of built code",
           "__import__": "__import__ (imports hidden from the reader)", "globals": "globals() (the namespace of the tests)",
           "vars": "vars() of a module or namespace", "setattr": "setattr on a module",
           "delattr": "delattr on a module", "exit": "exit() (ends the kernel)", "quit": "quit() (ends the kernel)",
           "breakpoint": "breakpoint()"}
COURSE_PATHS = re.compile(r"gradebook|\.src\.py|nbgrader_config|/submitted|/autograded|exchange|/source/|"
                          r"parcel_course|\.parcel-attest|\.\./", re.I)


# IPython's magics, by what a student's use of them is (see the module's docstring)
SAFE_LINE_MAGICS = {"matplotlib", "who", "whos", "who_ls", "pwd", "cd", "ls", "precision", "xmode",
                    "pinfo", "pinfo2", "pdoc", "pdef", "psearch", "lsmagic", "magic", "quickref", "history",
                    "tensorboard"}
PIP_MAGICS = {"pip", "conda", "mamba", "micromamba"}
CODE_MAGICS = {"time", "timeit"}                  # their argument (and cell) is Python code: scanned as such
SHELL_MAGICS = {"sx", "system", "bash", "sh"}
SAFE_EXTENSIONS = {"tensorboard", "tensorboard.notebook"}
MAGIC_WHY = {
    "load_ext": "loads an IPython extension, which receives the shell object and may register hooks",
    "reload_ext": "loads an IPython extension, which receives the shell object and may register hooks",
    "autoreload": "autoreload (a hook that reloads modules around every cell)",
    "run": "runs a file's code in the notebook's namespace, unseen by this scan",
    "load": "loads code from a file or address, unseen by this scan",
    "writefile": "writes a file beside the notebook (a module there is imported instead of the tests' own)",
    "config": "changes IPython's configuration (the shell's own settings)",
    "env": "changes the kernel's environment variables",
    "capture": "captures a cell's outputs (what the grader reads)",
    "pdb": "starts a debugger", "debug": "starts a debugger",
    "javascript": "JavaScript for the reader's browser", "js": "JavaScript for the reader's browser",
    "reset": "clears the notebook's namespace (the tests' helpers included)",
}
_TIMEIT_OPTIONS = re.compile(r"^(\s*-(?:[nrp]\s*\d+(?:\.\d+)?|[tcqo]))*\s*")
_SHELL_REACH = re.compile(r"\b(kill|pkill|killall|gdb|strace|ptrace)\b|/proc/")
_PIP_CHANGES = re.compile(r"\buninstall\b|(?:^|\s)(-U|--upgrade|--force-reinstall|-e|--editable|-t|--target|"
                          r"--user|--prefix|--root)(?=\s|=|$)")


def _magic_call(node):
    """``(method, [string arguments])`` of ``get_ipython().run_line_magic(...)`` and its kin, else None.

    This is the shape IPython gives a magic or a shell escape (``%time f()``,
    ``!ls``); a student who writes the call out gets the same reading.
    """
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"
            and not owner.args and not owner.keywords):
        return None
    if node.keywords or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        return None
    return node.func.attr, [a.value for a in node.args]


def _magic_reasons(method, args, depth):
    """(reasons, code strings to scan as cells) of one magic call (see the module's docstring)."""
    if method in ("system", "getoutput"):
        name, line, body = "!", args[0] if args else "", ""
    elif method == "run_line_magic" and len(args) == 2:
        name, line, body = args[0], args[1], ""
    elif method == "run_cell_magic" and len(args) == 3:
        name, line, body = args
    else:
        return ["uses IPython's shell object (get_ipython), through which its hooks are changed"], []
    if name == "!" or name in SHELL_MAGICS:
        command = f"{line}\n{body}"
        reasons = []
        if re.match(r"\s*[{$]", command):
            reasons.append(f"runs a shell command built when it runs, which this scan cannot read "
                           f"({command.strip()[:60]!r})")
        if _SHELL_REACH.search(command):
            reasons.append(f"runs a shell command that reaches other processes, the kernel's included "
                           f"({command.strip()[:60]!r})")
        if re.search(r"\b(pip3?|conda|mamba|uv)\b", command) and _PIP_CHANGES.search(command):
            reasons.append(f"changes the installed packages the tests import ({command.strip()[:60]!r})")
        return reasons, []
    if name in PIP_MAGICS:
        if _PIP_CHANGES.search(line):
            return [f"changes the installed packages the tests import (%{name} {line.strip()[:50]})"], []
        return [], []
    if name in CODE_MAGICS:
        if depth >= 3:
            return [f"nests %{name} too deep for this scan to read the code it runs"], []
        return [], [_TIMEIT_OPTIONS.sub("", line, count=1), body]
    if name in SAFE_LINE_MAGICS or (name == "config" and line.strip().startswith("InlineBackend.")) or \
            (name == "load_ext" and line.strip() in SAFE_EXTENSIONS):
        return [], []
    why = MAGIC_WHY.get(name, "not one a notebook needs")
    return [f"runs the IPython magic {'%%' if method == 'run_cell_magic' else '%'}{name}: {why}"], []


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
        # lazy: IPython takes 0.2 s; without it (or if it fails) the cell is scanned as written
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        return source


_INSTRUCTOR_PACKAGES = ("parcel_utils", "parcel_course")


class _CellNames(NamedTuple):
    """What one cell's checks need to know about the names around it."""

    modules: dict            # name -> dotted origin of what it was imported from
    protected: dict          # names the tests use -> what the instructor bound them to
    exercises: frozenset     # the student's functions the tests call
    defined: set             # functions and classes the cell defines
    declared_global: set     # names the cell declares ``global``
    top: set                 # ids of the nodes that run in the notebook's namespace


def scan_cell(source: str, modules: dict, protected: dict, exercises=(), _depth: int = 0) -> list[str]:
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
        of them to something imported is flagged (the exercise is to write it).

    Returns
    -------
    list of str
        Each reason once, in the order the scan met it.

    Example
    -------
    >>> scan_cell("import numpy as np\\nnp.allclose = lambda *a, **k: True", {"np": "numpy"}, {})
    ['changes the imported module np (numpy): monkeypatching what the tests call']
    """
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return _unique(_word_reasons(source))
    magic_found, magic_parts = _magic_findings(tree, modules, protected, exercises, _depth)
    names = _cell_names(tree, modules, protected, exercises)
    return _unique(itertools.chain(magic_found, _node_findings(tree, magic_parts, names)))


def _unique(reasons) -> list[str]:
    """The reasons in order, each kept at its first place."""
    return list(dict.fromkeys(reasons))


def _word_reasons(source: str):
    """Reasons of a cell that does not parse, found by the words it holds."""
    words = {**HOOKS, **{k: v for k, v in DYNAMIC.items() if k in ("exec", "eval", "compile")}}
    for word, why in words.items():
        if re.search(rf"\b{re.escape(word)}\b", source):
            yield f"uses {why}"


def _magic_findings(tree, modules, protected, exercises, depth) -> tuple[list[str], set]:
    """(reasons, ids of the nodes the magic calls are made of) of a cell's magics and shell escapes.

    Magics are judged by what they are; the shell object they go through is
    not a hit, so its nodes (and the code strings scanned as cells) are
    returned for the node checks to skip.
    """
    reasons, magic_parts = [], set()
    for node in ast.walk(tree):
        magic = _magic_call(node)
        if magic is None:
            continue
        magic_parts |= {id(node.func), id(node.func.value), id(node.func.value.func)}
        found, code_parts = _magic_reasons(*magic, depth)
        reasons.extend(found)
        if code_parts:
            magic_parts |= {id(a) for a in node.args}          # scanned here as code, not as strings
        for part in code_parts:
            if part.strip():
                reasons.extend(scan_cell(part, modules, protected, exercises, depth + 1))
    return reasons, magic_parts


def _cell_names(tree, modules, protected, exercises) -> _CellNames:
    """The names one cell's node checks look up (the cell's own definitions and scope included)."""
    return _CellNames(
        modules=modules, protected=protected, exercises=exercises,
        defined={n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))},
        declared_global={n for g in ast.walk(tree) if isinstance(g, ast.Global) for n in g.names},
        top=_module_scope(tree),         # a local variable named like a builtin changes nothing for the tests
    )


def _node_findings(tree, skip: set, names: _CellNames):
    """Reasons of every node of the cell but the magic calls' own (``skip``), in walk order."""
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        yield from _kind_reasons(node, names)
        yield from _exercise_binding_reasons(node, names)
        yield from _assignment_reasons(node, names)
        yield from _protected_rebinding_reasons(node, names)


def _kind_reasons(node, names: _CellNames):
    """Reasons of one node by its kind: a hook's name, an attribute, an import, a call, a string."""
    if isinstance(node, ast.Name) and node.id in HOOKS:
        yield f"uses {HOOKS[node.id]}"
    elif isinstance(node, ast.Attribute):
        yield from _attribute_reasons(node, names)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        yield from _import_reasons(node, names)
    elif isinstance(node, ast.Call):
        yield from _call_reasons(node, names)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and COURSE_PATHS.search(node.value) \
            and ("/" in node.value or node.value.endswith((".db", ".py", ".ipynb"))):
        yield f"names a course file ({node.value[:60]!r})"


def _attribute_reasons(node: ast.Attribute, names: _CellNames):
    """Reasons of an attribute: a hook, IPython's events, module internals, the instructor's own copy."""
    modules = names.modules
    if node.attr in HOOKS:
        yield f"uses {HOOKS[node.attr]}"
    elif node.attr in EVENT_METHODS and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
        yield "registers an IPython event callback (runs code around every cell)"
    elif node.attr in ("__dict__", "__file__", "__loader__", "__spec__") and _module_of(node) in modules:
        yield f"reads {_module_of(node)}.{node.attr} (module internals)"
    origin = modules.get(_module_of(node), "")
    if origin.startswith(_INSTRUCTOR_PACKAGES) and node.attr in names.defined:
        yield f"calls {origin}.{node.attr} in the cell that defines {node.attr}"


def _import_reasons(node, names: _CellNames):
    """Reasons of an import: a module that reaches the kernel or the course, the instructor's own copy."""
    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for m in mods:
        for bad, why in BAD_IMPORTS.items():
            if m == bad or m.startswith(bad + "."):
                yield f"imports {why}"
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_INSTRUCTOR_PACKAGES):
        for a in node.names:
            if a.name in names.defined or (a.asname and a.asname in names.defined):
                yield f"imports {node.module}.{a.name} into the cell that defines {a.asname or a.name}"


def _call_reasons(node: ast.Call, names: _CellNames):
    """Reasons of a call: dynamic code, reflection on an imported module, opening course files."""
    modules = names.modules
    f = node.func
    name = f.id if isinstance(f, ast.Name) else None
    if name in ("exec", "eval", "compile", "__import__", "exit", "quit", "breakpoint", "globals"):
        yield f"calls {DYNAMIC[name]}"
    elif name in ("setattr", "delattr") and node.args and _module_of(node.args[0]) in modules:
        yield f"calls {name} on the imported {_module_of(node.args[0])}"
    elif name == "vars" and node.args and _module_of(node.args[0]) in modules:
        yield f"calls vars() on the imported {_module_of(node.args[0])}"
    elif name == "getattr" and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant) \
            and _module_of(node.args[0]) in modules:
        yield f"reads an attribute of the imported {_module_of(node.args[0])} by a computed name"
    elif name == "open" or (isinstance(f, ast.Attribute) and f.attr in ("listdir", "scandir", "walk", "glob",
                                                                      "rglob", "read_text", "read_bytes")):
        for c in ast.walk(node):
            if isinstance(c, ast.Constant) and isinstance(c.value, str) and COURSE_PATHS.search(c.value):
                yield f"opens course files ({c.value[:60]!r})"


def _exercise_binding_reasons(node, names: _CellNames):
    """Reasons of an exercise's name bound to, or imported from, the instructor's packages."""
    if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Attribute, ast.Name)):
        src_root = _module_of(node.value) if isinstance(node.value, ast.Attribute) else node.value.id
        origin = names.modules.get(src_root, "")
        for t in node.targets:
            if isinstance(t, ast.Name) and t.id in names.exercises and origin.startswith(_INSTRUCTOR_PACKAGES):
                yield f"binds {t.id}, an exercise, to {origin}"
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_INSTRUCTOR_PACKAGES):
        for a in node.names:
            if (a.asname or a.name) in names.exercises:
                yield f"imports {node.module}.{a.name} as {a.asname or a.name}, an exercise"


def _assigned_targets(node) -> list:
    """The targets a statement stores to or deletes (none for other nodes)."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        return node.targets
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        return [node.target]
    if isinstance(node, ast.With):
        return [i.optional_vars for i in node.items if i.optional_vars is not None]
    return []


def _assignment_reasons(node, names: _CellNames):
    """Reasons of a statement that stores into an imported module or rebinds a name the tests call."""
    modules = names.modules
    for t in _assigned_targets(node):
        for sub in ast.walk(t):
            if isinstance(sub, (ast.Attribute, ast.Subscript)) and _module_of(sub) in modules and \
                    isinstance(sub.ctx, (ast.Store, ast.Del)):
                yield (f"changes the imported module {_module_of(sub)} ({modules[_module_of(sub)]}): "
                       f"monkeypatching what the tests call")
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)) and sub.id in names.protected \
                    and (id(node) in names.top or sub.id in names.declared_global):
                yield f"rebinds {sub.id!r}, which the tests call"


def _protected_rebinding_reasons(node, names: _CellNames):
    """Reasons of a definition, import or ``global``/``nonlocal`` that rebinds a name the tests call."""
    protected = names.protected
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected \
            and (id(node) in names.top or node.name in names.declared_global):
        yield f"redefines {node.name!r}, which the tests call"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for a in node.names:
            if isinstance(node, ast.Import):
                bound, origin = a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0]
            else:
                bound, origin = a.asname or a.name, f"{node.module}.{a.name}"
            want = protected.get(bound, origin) or ""
            if bound in protected and origin.split(".")[0] != want.split(".")[0] or \
                    (bound in protected and "." in want and isinstance(node, ast.ImportFrom) and origin != want):
                yield f"rebinds {bound!r}, which the tests call, by an import of {origin}"
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        for n in node.names:
            if n in protected:
                yield f"rebinds {n!r}, which the tests call"


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
    protected.update({n: f"parcel_utils.checks.{n}" for n in ("check_close", "check_equal", "check_shape")})
    protected.update({n: f"parcel_utils.attest.{n}" for n in ("attest", "attest_model")})
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
    from nbgrader.api import Gradebook, MissingEntry   # lazy: nbgrader.api takes 1 s (SQLAlchemy, its models)
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
