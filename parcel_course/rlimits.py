"""Set resource limits, then exec a command: ``python -m parcel_course.rlimits [opts] -- CMD``.

Used to start every grading kernel.  The memory cap is not an rlimit
(TensorFlow reserves far more address space than it uses): the grading worker
watches the kernel's resident memory and kills it past the cap.
"""
import argparse
import os
import resource
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog="parcel_course.rlimits")
    # no defaults here: the kernel manager always passes parcel_course.limits.GradingLimits' values
    p.add_argument("--nproc", type=int, required=True)
    p.add_argument("--fsize-mb", type=int, required=True)
    p.add_argument("--nofile", type=int, required=True)
    p.add_argument("--cpu", type=int, required=True)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set in the command's environment")
    p.add_argument("--clearenv", action="store_true", help="start the command's environment empty (then --env)")
    p.add_argument("--unset", action="append", default=[], metavar="NAME", help="removed from the command's environment")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command given after --")
    resource.setrlimit(resource.RLIMIT_NPROC, (a.nproc, a.nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (a.fsize_mb * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, a.nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if a.cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (a.cpu, a.cpu))
    if a.clearenv:
        os.environ.clear()
    for name in a.unset:
        os.environ.pop(name, None)
    for item in a.env:
        name, _, value = item.partition("=")
        os.environ[name] = value
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
