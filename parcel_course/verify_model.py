"""Check a model that a student's kernel saved, in a process of the grader's (see ``parcel_utils.attest.attest_model``).

The grader side, :func:`verify_saved_models`, runs this module as a fresh
Python process: no student code has run in it, and (with bubblewrap) it is
sandboxed as the kernel was, with no network and a read-only view of the
saved model and of the dataset cache.  The process side, :func:`main`,
refuses a model file whose configuration names anything but Keras' own
classes and this package's layers (no ``Lambda``, no module of the
student's), loads it with Keras' safe mode, calls the instructor's check
on it (the registry's model check of that key, :mod:`parcel_course.registry`)
and prints its verdict as one JSON line after :data:`VERDICT`.

Run by hand::

    python -m parcel_course.verify_model MODEL.keras KEY RECORD_JSON [MODEL2.keras KEY2 RECORD2 ...]

(``RECORD_JSON``: the record the kernel published with the model, or ``null``.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["unsafe_config", "verify_saved_models", "main", "VERDICT"]

VERDICT = "parcel-model-verdict:"
#: Module prefixes a saved model's configuration may name (Keras' classes, this package's layers).
ALLOWED_MODULES = ("keras", "parcel_utils.augment")
#: Classes that carry code of their own: never loaded.
FORBIDDEN_CLASSES = {"Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


def unsafe_config(path) -> str | None:
    """Why the ``.keras`` file at ``path`` must not be loaded; None when its configuration is Keras' own.

    Example
    -------
    >>> unsafe_config("missing.keras")
    'cannot read the saved model: FileNotFoundError'
    """
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except Exception as exc:  # noqa: BLE001 - anything odd about the file is a reason not to load it
        return f"cannot read the saved model: {type(exc).__name__}"
    todo = [config]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            module = node.get("module")
            if module is not None and not (isinstance(module, str) and module.startswith(ALLOWED_MODULES)):
                return f"the model names the module {str(module)[:80]!r}, not Keras' nor parcel_utils.augment"
            if node.get("class_name") in FORBIDDEN_CLASSES:
                return f"the model holds a {node['class_name']} layer, which carries code of its own"
            todo.extend(node.values())
    return None


def _check(model_file: str, key: str, record) -> str | None:
    why = unsafe_config(model_file)
    if why:
        return why
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from parcel_utils.augment import RandomHeightScale  # noqa: F401 - made (and registered with Keras) on first use
    from . import registry
    check = registry.find(key)
    try:    # with its optimizer only for a check that reads it (a student's loss must not fail the others)
        model = keras.saving.load_model(model_file, compile=check.needs_compile, safe_mode=True)
    except Exception as exc:  # noqa: BLE001
        return f"the saved model does not load: {type(exc).__name__}: {str(exc)[:300]}"
    return check.verify_model(model, record)


def main(argv=None) -> int:
    """``MODEL.keras KEY RECORD_JSON`` (one triple per model): one verdict line per model, in order."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) % 3:
        print("usage: python -m parcel_course.verify_model MODEL.keras KEY RECORD_JSON [...]", file=sys.stderr)
        return 2
    import time
    for i in range(0, len(argv), 3):
        t0 = time.perf_counter()
        try:
            why = _check(argv[i], argv[i + 1], json.loads(argv[i + 2]))
        except Exception as exc:  # noqa: BLE001
            why = f"the grader's model check failed: {type(exc).__name__}: {str(exc)[:300]}"
        print(VERDICT + json.dumps({"index": i // 3, "ok": why is None, "why": why or "",
                                    "seconds": round(time.perf_counter() - t0, 3)}), flush=True)
    return 0


def verify_saved_models(jobs, sandbox: str = "auto", timeout: int = 600, threads: int = 0) -> list:
    """Check each ``(model_file, key, record)`` with the registry's check ``key``, all in one fresh process.

    One process (sandboxed with bubblewrap where it can be) imports Keras
    once and checks the models in turn.  Returns, per job, None when the
    model passes, else one sentence that says why not (the model fails the
    check, it cannot be loaded safely, or the checks did not finish in
    ``timeout`` seconds per model).  The dataset cache is made complete here
    first, since the sandbox can only read it.
    """
    from .directory import grading_env
    from .limits import thread_caps
    from .sandbox import bwrap_prefix, dataset_cache, sandbox_available
    whys = [None] * len(jobs)
    argv, index = [], []
    for i, (model_file, key, record) in enumerate(jobs):
        model_file = Path(model_file).resolve()
        if not model_file.is_file():
            whys[i] = "no saved model: the check did not run to its end in the kernel"
            continue
        argv += [str(model_file), key, json.dumps(record)]
        index.append(i)
    if not index:
        return whys
    cache = dataset_cache()                   # the splits the checks read, cached before the sandbox
    env = grading_env({"PARCEL_DATA_DIR": cache, **thread_caps(threads)})
    env.pop("PARCEL_GRADING", None)
    cmd = [sys.executable, "-m", "parcel_course.verify_model", *argv]
    folders = sorted({str(Path(argv[k]).parent) for k in range(0, len(argv), 3)})
    limit = timeout * len(index)
    with tempfile.TemporaryDirectory(prefix="parcel-verify-") as work:
        if sandbox == "bwrap" or (sandbox == "auto" and sandbox_available()):
            cmd = bwrap_prefix(work, readonly=[*folders, cache], instructor=True) + cmd
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=limit)
            stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr, rc = f"took more than {limit} s", None
    verdicts = {}
    for line in stdout.splitlines():
        if line.startswith(VERDICT):
            try:
                v = json.loads(line[len(VERDICT):])
                verdicts[int(v["index"])] = v
            except (ValueError, KeyError, TypeError):
                continue
    for k, i in enumerate(index):
        v = verdicts.get(k)
        if v is not None:
            whys[i] = None if v.get("ok") else (v.get("why") or "the model failed the check")
        elif rc is None:
            whys[i] = f"the grader's check of the saved model {stderr}"
        else:
            whys[i] = (f"the grader's check of the saved model gave no verdict (exit {rc}): "
                       f"{(stderr or stdout)[-300:].strip()}")
    return whys


if __name__ == "__main__":
    sys.exit(main())
