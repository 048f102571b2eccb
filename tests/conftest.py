import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("PARCEL_DB_URL", None)   # each test chooses its gradebook (SQLite unless it asks for the server)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def root():
    return ROOT


# -- a throwaway PostgreSQL server (the gradebook on a server, tests/test_postgres.py) ----------------

def _postgres_bindir():
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (Debian's layout), or None."""
    import glob
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl"))]
    version = lambda d: [int(x) if x.isdigit() else 0 for x in Path(d).parent.name.split(".")]  # noqa: E731
    return Path(max(found, key=version)) if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of our own for this test session: ``(admin URL, make_db)``.

    Debian's server binaries (``apt-get install postgresql``, which ``make
    install`` does as root), ``initdb`` into a fresh data directory, listening on
    127.0.0.1 and a free port only (its socket in that directory), trust
    authentication, no fsync; run as the ``postgres`` user when we are root
    (the server refuses root).  ``make_db()`` creates an empty database and
    returns its SQLAlchemy URL.  Stopped and removed at the end, whatever happens.
    """
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): "
                    "`apt-get install postgresql` (make install does it as root)")
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[test]'")
    as_user = []
    base = Path(tempfile.mkdtemp(prefix="parcel-pg-"))
    if os.geteuid() == 0:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(base, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*cmd, **kw):
        return subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True, timeout=120, **kw)

    started = False
    try:
        out = run(bindir / "initdb", "-D", data, "-U", "parcel", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        assert out.returncode == 0, f"initdb failed:\n{out.stdout}\n{out.stderr}"
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        out = run(bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
        started = True
        assert out.returncode == 0, f"pg_ctl start failed:\n{out.stdout}\n{out.stderr}\n" + (
            log.read_text() if log.exists() else "")
        admin = f"postgresql://parcel@127.0.0.1:{port}/postgres"
        count = iter(range(1, 10**6))

        def make_db() -> str:
            name = f"gradebook_{next(count)}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return f"postgresql+psycopg://parcel@127.0.0.1:{port}/{name}"

        yield admin, make_db
    finally:
        if started:
            run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server):
    """The SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    return postgres_server[1]()
