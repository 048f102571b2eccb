"""The bundle's README gets a student started on any computer (issue 25, item 9).

Python 3.11-3.13 on macOS, Windows and Linux, the size of the first install (as
``benchmarks/student_install.py`` recorded it: tests/test_numbers_in_text.py checks
the figure), and progress bars that need no ipywidgets. Fast: the README's text only;
tests/test_student_package.py builds a real bundle.
"""
import json
import re
from pathlib import Path

import pytest

from parcel_course.bundle import FIRST_INSTALL, student_readme

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "parcel_utils-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def readme():
    return student_readme(WHEEL, ["01_convolution/convolution.ipynb"])


def _section(text, title):
    m = re.search(rf"^- \*\*{title}\.\*\*(.*?)(?=^- \*\*|^#)", text, re.M | re.S)
    assert m, f"the README has no bullet for {title}"
    return m.group(1)


def test_it_says_which_python_and_why(readme):
    assert "3.11, 3.12 or 3.13" in readme
    assert "3.14" in readme and "No matching distribution found for" in readme   # the error a 3.14 user meets


@pytest.mark.parametrize("system, needles", [
    ("macOS", ["3.9", "python.org", "brew install python@3.12", "python3.12", "Intel Mac"]),
    ("Windows", ["python.org", "py -3.12", "Microsoft Store", "App execution aliases"]),
    ("Linux", ["python3-venv", "deadsnakes", "pyenv install"]),
])
def test_each_system_gets_a_way_to_python(readme, system, needles):
    text = _section(readme, system)
    missing = [n for n in needles if n not in text]
    assert not missing, f"the {system} bullet does not mention {missing}"


def test_the_install_commands_are_still_there(readme):
    assert f"pip install {WHEEL} jupyterlab" in readme and "python3 -m venv .venv" in readme
    assert r".venv\Scripts\activate" in readme


def test_the_first_install_size_is_stated_and_recorded(readme):
    assert f"The first install is large: {FIRST_INSTALL}." in readme
    recorded = json.loads((ROOT / "benchmarks" / "results" / "student_install.json").read_text())
    gb = re.search(r"about ([\d.]+) GB on disk", FIRST_INSTALL)
    assert gb, FIRST_INSTALL
    assert float(gb.group(1)) == pytest.approx(recorded["venv_bytes"] / 1e9, abs=0.05)


def test_progress_bars_need_no_ipywidgets(readme):
    assert "ipywidgets" in readme and "nothing warns" in readme
