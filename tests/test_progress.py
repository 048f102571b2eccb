"""parcel_utils.progress: progress bars without ipywidgets print no warning (a plain `pip install jupyterlab`)."""
import io
import os
import sys
import types
import warnings
from pathlib import Path

import pytest

from parcel_utils import progress

ROOT = Path(__file__).resolve().parents[1]


class _KernelShell:
    """What IPython's get_ipython() returns in a Jupyter kernel, as far as tqdm and progress look."""
    config = {"IPKernelApp": {}}


@pytest.fixture
def in_kernel(monkeypatch):
    """A Jupyter kernel as tqdm (ipykernel's shell module loaded) and IPython (get_ipython()) show it."""
    IPython = pytest.importorskip("IPython")
    monkeypatch.setattr(IPython, "get_ipython", lambda: _KernelShell())
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    for key in [k for k in os.environ if k == "QT_API" or k.startswith("SPYDER")]:
        monkeypatch.delenv(key)
    # tqdm decides at import time: make its notebook modules import again, and restore them afterwards
    for name in ("tqdm.auto", "tqdm.autonotebook", "tqdm.notebook"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return monkeypatch


def test_tqdm_auto_warns_in_a_kernel_without_ipywidgets(in_kernel):
    """The control: the fake kernel reproduces the warning a student sees with tqdm.auto."""
    in_kernel.setitem(sys.modules, "ipywidgets", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import tqdm.autonotebook   # noqa: F401
    assert any("IProgress not found" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_progress_bar_in_a_kernel_without_ipywidgets_is_text_and_silent(in_kernel):
    in_kernel.setitem(sys.modules, "ipywidgets", None)
    from tqdm.std import tqdm as text_tqdm
    out = io.StringIO()
    # recorded, not raised: tqdm.autonotebook swallows an exception its own warning raises
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert progress.in_jupyter_kernel()
        bar = progress.progress_bar(range(5), desc="maps", file=out, mininterval=0)
        assert sum(bar) == 10
    assert not caught, [str(w.message) for w in caught]
    assert type(bar) is text_tqdm
    assert "maps" in out.getvalue() and "5/5" in out.getvalue()


def test_generating_parcels_with_progress_in_a_kernel_without_ipywidgets_warns_nothing(in_kernel, capsys):
    in_kernel.setitem(sys.modules, "ipywidgets", None)
    from parcel_utils.data import generate_parcels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, y = generate_parcels("val", n=3, progress=True)
    assert not caught, [str(w.message) for w in caught]
    assert X.shape == (3, 64, 64)
    err = capsys.readouterr().err
    assert "generating parcels (val)" in err and "IProgress" not in err


def test_a_kernel_with_ipywidgets_gets_the_widget(in_kernel):
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as notebook_tqdm
    assert progress.tqdm_class() is notebook_tqdm


def test_the_qt_console_gets_the_text_bar(in_kernel):
    pytest.importorskip("ipywidgets")
    in_kernel.setenv("QT_API", "pyqt5")
    from tqdm.std import tqdm as text_tqdm
    assert progress.tqdm_class() is text_tqdm


def test_outside_a_kernel_the_text_bar(monkeypatch):
    IPython = pytest.importorskip("IPython")
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    from tqdm.std import tqdm as text_tqdm
    assert not progress.in_jupyter_kernel()
    assert progress.tqdm_class() is text_tqdm


def test_the_student_package_draws_every_bar_through_progress_bar():
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "parcel_utils").glob("*.py"))
                 if p.name != "progress.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if "import" in line and "tqdm" in line]
    assert not offenders, f"import parcel_utils.progress.progress_bar instead of tqdm at {offenders}"
