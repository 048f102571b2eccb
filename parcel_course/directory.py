"""The course directory: assignments, nbgrader calls, release and solutions."""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from traitlets.config.loader import PyFileConfigLoader

from parcel_utils.checks import BUDGET_ENV, FULL_BUDGET

from . import authoring
from .limits import GRADING_BUDGET, GradingLimits, Limits
from .metrics import published_metrics, record_reference_metric

__all__ = ["Course", "CourseError"]


class CourseError(RuntimeError):
    """Something about the course directory that the instructor must fix."""


def nbgrader_executable() -> list[str]:
    """The nbgrader command of the running Python environment."""
    return [sys.executable, "-m", "nbgrader"]


def grading_env(extra: dict | None = None) -> dict:
    """Environment for nbgrader and its kernels: quiet TensorFlow, fixed hash seed.

    TensorFlow's C++ log is silenced, errors included (``TF_CPP_MIN_LOG_LEVEL=3``: fatal only),
    whatever the caller's environment says: nbgrader scores a test cell with
    any stderr output zero, and ipykernel forwards what C++ writes to fd 2
    late, into whichever cell runs next. tf.data logs a harmless
    ``E0000 ... NodeDef mentions attribute use_unbounded_threadpool`` after
    the first training, and at level 2 it landed in four test cells of a
    correct 04_cnn (11 of 27 points lost in ``make demo``).
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.setdefault("MPLBACKEND", "Agg")
    # Keep the kernel's Python path the same as ours (editable installs, venvs).
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    if extra:
        env.update(extra)
    return env


class Course:
    """A course directory: a folder with ``nbgrader_config.py`` and ``source/``.

    Parameters
    ----------
    root : str or Path, default "."
        The course directory (the repository checkout).

    Examples
    --------
    >>> course = Course(".")                       # doctest: +SKIP
    >>> course.assignments()                       # doctest: +SKIP
    ['01_convolution', '02_parameters', ...]
    """

    def __init__(self, root: str | os.PathLike = "."):
        self.root = Path(root).resolve()
        if not (self.root / "nbgrader_config.py").is_file():
            raise CourseError(
                f"{self.root} has no nbgrader_config.py: run parcel-course from the course "
                "directory (the repository checkout) or pass --root PATH.")
        self.source = self.root / "source"
        self.release = self.root / "release"
        self.solutions_dir = self.root / "solutions"
        self.autograded = self.root / "autograded"
        self.submitted = self.root / "submitted"
        self.feedback = self.root / "feedback"
        self.reports = self.root / "reports"
        self._db_url = None

    # -- its gradebook -------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL: ``c.CourseDirectory.db_url`` of the course's config.

        The course's ``nbgrader_config.py`` takes it from ``PARCEL_DB_URL`` when
        that is set (a PostgreSQL server, say), else ``sqlite:///<root>/gradebook.db``,
        nbgrader's own default, which is also what a config without the line gets.
        """
        if self._db_url is None:
            directory = self.config().get("CourseDirectory", {})
            url = directory.get("db_url") if hasattr(directory, "get") else None
            self._db_url = str(url) if url else "sqlite:///" + str(self.root / "gradebook.db")
        return self._db_url

    @property
    def server_db(self) -> bool:
        """True when the gradebook is on a database server, not in an SQLite file."""
        return not self.db_url.startswith("sqlite")

    @property
    def db_path(self) -> Path | None:
        """The SQLite file of the gradebook; None when it is on a server."""
        if self.server_db:
            return None
        from sqlalchemy.engine import make_url   # lazy: SQLAlchemy takes 0.5 s and only a gradebook needs it
        database = make_url(self.db_url).database
        return Path(database).resolve() if database and database != ":memory:" else None

    def has_gradebook(self) -> bool:
        """Whether there is a gradebook to read: the SQLite file exists, or the URL names a server."""
        return self.server_db or (self.db_path is not None and self.db_path.exists())

    def gradebook(self):
        """nbgrader's :class:`~nbgrader.api.Gradebook` of the course, as a context manager.

        Closing it also closes its database connections (nbgrader's own
        ``close`` leaves them in the engine's pool until garbage collection,
        which a server counts against its connection limit).
        """
        from nbgrader.api import Gradebook   # lazy: nbgrader.api takes 1 s (SQLAlchemy, its models)

        @contextlib.contextmanager
        def opened():
            gb = Gradebook(self.db_url, self.course_id)
            try:
                yield gb
            finally:
                gb.close()
                gb.engine.dispose()
        return opened()

    # -- its configuration --------------------------------------------------------------
    def config(self):
        """The course's nbgrader configuration (``nbgrader_config.py``), as nbgrader loads it."""
        return PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()

    def limits(self, **overrides):
        """The grading limits the course configures (``c.GradingLimits``), with ``overrides``."""
        return Limits(**{**GradingLimits(config=self.config()).to_dict(), **overrides})

    # -- what is in the course ---------------------------------------------------------
    def assignments(self) -> list[str]:
        """Assignment ids: the folders of source/ that hold a notebook or a .src.py."""
        if not self.source.is_dir():
            return []
        return sorted(p.name for p in self.source.iterdir()
                      if p.is_dir() and (any(p.glob("*.ipynb")) or any(p.glob("*.src.py"))))

    def check_assignments(self, assignments) -> list[str]:
        """Validate assignment ids; None or empty means all of them."""
        known = self.assignments()
        if not assignments:
            return known
        unknown = [a for a in assignments if a not in known]
        if unknown:
            raise CourseError(f"Unknown assignment(s) {unknown}; this course has {known}.")
        return list(assignments)

    def notebooks(self, assignment: str) -> list[Path]:
        return sorted(self.source.joinpath(assignment).glob("*.ipynb"))

    # -- running nbgrader --------------------------------------------------------------
    def nbgrader(self, *args, check=True, quiet=True, env=None, cwd=None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in the course directory; raise CourseError with its log on failure."""
        cmd = [*nbgrader_executable(), *map(str, args)]
        if quiet:
            cmd.append("--log-level=WARN")
        proc = subprocess.run(cmd, cwd=cwd or self.root, env=env or grading_env(),
                              capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise CourseError(f"`nbgrader {' '.join(map(str, args))}` failed (exit {proc.returncode}):\n"
                              + (proc.stderr or proc.stdout)[-4000:])
        return proc

    # -- instructor tasks -------------------------------------------------------------
    def build_source(self) -> list[Path]:
        """Rebuild source/*/*.ipynb from the .src.py scripts."""
        return authoring.build_source(self.source)

    def generate(self, assignments=None, release_dir: str | os.PathLike | None = None,
                 db: bool = True) -> list[Path]:
        """``nbgrader generate_assignment`` for each assignment (into release/ by default).

        With ``release_dir`` the student notebooks go there instead, and with
        ``db=False`` the gradebook is left alone: that is how a test checks that
        release/ is current without touching the course.
        """
        out = []
        for a in self.check_assignments(assignments):
            args = ["generate_assignment", a, "--force"]
            if release_dir is not None:
                args.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
            if not db:
                args.append("--no-db")
            self.nbgrader(*args)
            base = Path(release_dir) if release_dir is not None else self.release
            out.extend(sorted((base / a).glob("*.ipynb")))
        return out

    def ensure_in_gradebook(self, assignments) -> None:
        """Make sure the gradebook knows the assignments (generate_assignment writes them)."""
        from nbgrader.api import MissingEntry   # lazy: nbgrader.api takes 1 s (SQLAlchemy, its models)
        missing = []
        with self.gradebook() as gb:
            for a in assignments:
                try:
                    gb.find_assignment(a)
                except MissingEntry:
                    missing.append(a)
        if missing:
            self.generate(missing)

    @property
    def course_id(self) -> str:
        return "parcel-course"

    def execute_solutions(self, assignments=None, out_dir=None, timeout=900, progress=print) -> dict:
        """Execute the source notebooks into solutions/ (outputs in); returns seconds per notebook."""
        out_dir = Path(out_dir) if out_dir else self.solutions_dir
        times = {}
        os.environ.update({k: v for k, v in grading_env().items() if k not in os.environ})
        os.environ.pop(BUDGET_ENV, None)          # solutions/ holds the full-budget run
        for a in self.check_assignments(assignments):
            for nb_path in self.notebooks(a):
                nb, dt = self._run_notebook(nb_path, timeout)
                target = out_dir / a / nb_path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, target)
                times[f"{a}/{nb_path.name}"] = dt
                self._record_metrics(a, nb_path.name, nb, dt)
                if progress:
                    progress(f"executed {a}/{nb_path.name} in {dt:.1f} s -> {target.relative_to(self.root) if target.is_relative_to(self.root) else target}")
                if "training_budget()" in "".join(c.source for c in nb.cells if c.cell_type == "code"):
                    # a heavy notebook: run it again as graded kernels do, for its bars at the grading budget
                    dt_g = self._execute_at_budget(nb_path, timeout)
                    times[f"{a}/{nb_path.name}@{GRADING_BUDGET}"] = dt_g
                    if progress:
                        progress(f"executed {a}/{nb_path.name} at the {GRADING_BUDGET} budget in {dt_g:.1f} s "
                                 "(metrics recorded, notebook not kept)")
        return times

    @staticmethod
    def _run_notebook(nb_path, timeout, allow_errors=False):
        """Execute a notebook in its own folder (a kernel of this environment); (executed notebook, seconds)."""
        from nbclient import NotebookClient   # lazy: nbclient (and asyncio) only where a notebook is executed
        nb = nbformat.read(nb_path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        return nb, time.perf_counter() - t0

    def _execute_at_budget(self, nb_path, timeout, budget=GRADING_BUDGET) -> float:
        """Execute a source notebook with $PARCEL_BUDGET set; record what it publishes (key + "@budget")."""
        from unittest import mock   # lazy: unittest.mock imports asyncio (0.1 s), needed only by `make solutions`
        with mock.patch.dict(os.environ, {BUDGET_ENV: budget}):
            # its visible tests compare with bars this run is about to record: errors do not stop it
            nb, dt = self._run_notebook(nb_path, timeout, allow_errors=True)
        self._record_metrics(nb_path.parent.name, nb_path.name, nb, dt, budget=budget)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error" and o.get("ename") != "AssertionError"]
        if errors:
            raise RuntimeError(f"{nb_path} at the {budget} budget: {errors[0]['ename']}: {errors[0]['evalue']}")
        return dt

    def _record_metrics(self, assignment, name, nb, seconds, budget=FULL_BUDGET) -> None:
        """Record the metrics an executed reference solution published (the bar students are graded against)."""
        machine = (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}")
        for key, value in published_metrics(nb).items():
            record_reference_metric(assignment, key, value, machine=machine,
                                    note=f"make solutions: {assignment}/{name} executed in {seconds:.0f} s"
                                         + ("" if budget == FULL_BUDGET else f" at the {budget} budget"))

    def clean_outputs(self) -> None:
        """Remove what grading wrote (exchange, submissions, gradebook, feedback, reports).

        The gradebook goes too: its SQLite file, or on a server every row of
        nbgrader's tables (the tables stay, empty, as a new gradebook has them).
        """
        for d in (self.submitted, self.feedback, self.reports):
            shutil.rmtree(d, ignore_errors=True)
        if self.autograded.is_dir():
            for p in self.autograded.iterdir():
                if p.name != "README.md":
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        if not self.server_db:
            if self.db_path is not None:
                self.db_path.unlink(missing_ok=True)
            return
        # lazy: nbgrader.api and SQLAlchemy take 1 s; only a gradebook on a server gets here
        from nbgrader.api import Base
        from sqlalchemy import create_engine, inspect   # lazy: as above
        engine = create_engine(self.db_url)
        try:
            present = set(inspect(engine).get_table_names())
            with engine.begin() as conn:
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name in present:
                        conn.execute(table.delete())
        finally:
            engine.dispose()
