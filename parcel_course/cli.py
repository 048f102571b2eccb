"""The ``parcel-course`` command: thin, it parses and calls :mod:`parcel_course`."""
from __future__ import annotations

import argparse
import sys


def _course(args):
    from parcel_course.directory import Course   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    return Course(args.root)


def cmd_source(args):
    for p in _course(args).build_source():
        print(p)


def cmd_generate(args):
    course = _course(args)
    course.build_source()
    for p in course.generate(args.assignments or None):
        print(p.relative_to(course.root))


def cmd_solutions(args):
    course = _course(args)
    course.build_source()
    if args.text_only:
        from parcel_course.authoring import refresh_text   # imported by the subcommand that needs it
        for a in course.check_assignments(args.assignments or None):
            for nb in sorted((course.source / a).glob("*.ipynb")):
                n = refresh_text(nb, course.root / "solutions" / a / nb.name)
                print(f"solutions/{a}/{nb.name}: {n} text cell(s) refreshed, outputs kept")
        return
    course.execute_solutions(args.assignments or None)


def cmd_release(args):
    from parcel_course import exchange   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    course.build_source()
    done = exchange.release(course, args.assignments or None)
    print(f"released {', '.join(done)} to {exchange.exchange_root(course)}")


def cmd_collect(args):
    from parcel_course import exchange   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    if args.source or args.lms:
        return cmd_collect_lms(course, args)
    done = course.check_assignments(args.assignments or None)
    entries = exchange.collect_submissions(course, done)
    for e in entries:     # one line per entry refused, collected or flagged (issue 24)
        if e.status == "refused" or e.flags:
            print(f"  {e.line()}", file=sys.stderr)
        elif e.status in ("collected", "updated"):
            print(f"  {e.line()}")
    count = {s: sum(e.status == s for e in entries) for s in ("collected", "updated", "unchanged", "refused")}
    n = sum(1 for a in done for _ in course.submitted.glob(f"*/{a}"))
    print(f"collected {n} submission(s) of {', '.join(done)} into {course.submitted}: "
          f"{count['collected']} new, {count['updated']} updated, {count['unchanged']} unchanged; "
          f"{count['refused']} inbound entr{'y' if count['refused'] == 1 else 'ies'} refused"
          + (f" (see above and {course.submitted / '.intake.jsonl'})" if count["refused"] else ""))


def _limits(course, args):
    """The course's limits (``c.GradingLimits`` in nbgrader_config.py), with what the command line gives."""
    given = dict(cell_timeout=args.timeout, memory_mb=args.memory_mb, sandbox=args.sandbox,
                 total_timeout=args.total_timeout, threads=args.threads, preload=False if args.no_preload else None)
    return course.limits(**{k: v for k, v in given.items() if v is not None})


def cmd_grade(args):
    from parcel_course.grading.schedule import grade_all   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    results = grade_all(course, args.assignments or None, args.student or None,
                        workers=args.workers, scheduler=args.scheduler,
                        limits=_limits(course, args), force=args.force)
    bad = [r for r in results if r.status != "graded"]
    for r in bad:
        print(f"  {r.student}/{r.assignment}: {r.status}: {r.reason}", file=sys.stderr)
    print(f"graded {len(results)} submission(s), {len(bad)} with problems")


def cmd_feedback(args):
    from parcel_course.feedback import write_feedback   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    paths = write_feedback(_course(args), args.assignments or None, args.student or None,
                           show_hidden_tests=args.show_hidden_tests)
    print(f"wrote {len(paths)} feedback file(s)")


def cmd_export(args):
    from parcel_course.report import export_grades   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    if args.lms:
        from parcel_course.lms import export_lms   # imported by the subcommand that needs it: `parcel-course --help` stays fast
        for p in export_lms(_course(args), args.lms, args.assignment, roster=args.roster, missing=args.missing,
                            feedback=not args.no_feedback):
            print(p)
        return
    print(export_grades(_course(args), args.to))


def cmd_collect_lms(course, args):
    """``collect <assignment> --from <download> --lms moodle|canvas``: the LMS route (parcel_course.lms)."""
    from parcel_course.directory import CourseError   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    from parcel_course.lms import collect_lms   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    if not (args.source and args.lms) or len(args.assignments) != 1:
        raise CourseError("Collecting from an LMS takes one assignment, --from <download .zip or folder> and "
                          "--lms moodle|canvas, e.g. `parcel-course collect 01_convolution --from dl.zip --lms moodle`.")
    rep = collect_lms(course, args.assignments[0], args.source, args.lms, args.roster, args.id_column)
    for status, entry, message in rep.lines:
        if status != "folder":
            print(f"  {status:8s} {entry}: {message}")
    print(rep.summary())


def cmd_report(args):
    from parcel_course.report import write_report, summary_table   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    print(summary_table(course))
    print(f"report: {write_report(course, args.out)}")


def cmd_bundle(args):
    from parcel_course.bundle import write_bundle   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    paths = write_bundle(course, args.out, make_zip=not args.no_zip)
    for p in paths:
        print(f"  {p}  ({p.stat().st_size / 1e6:.1f} MB)" if p.suffix in {".whl", ".zip"} else f"  {p}")
    print(f"wrote the student bundle ({len(paths)} files) to {paths[0].parent}: hand out the folder "
          "or its zip, never this repository")


def cmd_demo(args):
    from parcel_course.demo import run_demo   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    if args.lms:
        from parcel_course.lms import run_lms_demo   # imported by the subcommand that needs it: `parcel-course --help` stays fast
        run_lms_demo(_course(args), args.lms, workers=args.workers,
                     **({"assignment": args.assignments[0]} if args.assignments else {}))
        return
    run_demo(_course(args), workers=args.workers, assignments=args.assignments or None)


def cmd_similarity(args):
    from parcel_course.similarity import STATEMENT, similarity_all   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    course = _course(args)
    for s in similarity_all(course, args.assignments or None, workers=args.workers):
        marked = ", ".join(f"{e} ({why})" for e, why in sorted(s["marked"].items()))
        print(f"{s['assignment']}: {s['students']} submissions, {s['pairs']} pairs, {s['flagged_pairs']} pair(s) "
              f"flagged at {s['threshold']:g}" + (f"; marked, not flagged: {marked}" if marked else ""))
        for f in s["flagged"]:
            print(f"  {f['score']:.2f}  {f['a']} / {f['b']}  {f['exercise']}  "
                  f"reports/similarity/{s['assignment']}/{f['page']}")
    print(STATEMENT + " `parcel-course report` adds the section to reports/index.html.")


def cmd_extend(args):
    from parcel_course.late import grant_extension   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    r = grant_extension(_course(args), args.student, args.assignment, days=args.days, hours=args.hours)
    print(f"{r['student']} / {r['assignment']}: " + (f"extension {r['extension']}, due {r['due']}" if r["extension"]
          else f"no extension, due {r['due']}") + (f"; submitted {r['submitted']}, late by {r['late'] or 'nothing'}, "
                                                   f"penalty {r['penalty']:g}" if r["submitted"] else
                                                   "; not submitted yet"))


def cmd_extensions(args):
    from parcel_course.late import list_extensions   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    from parcel_course.report import _text_table   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    rows = list_extensions(_course(args), args.assignments or None, all_students=args.all)
    if not rows:
        print("No extension granted" + (" and no submission" if args.all else "") + ".")
        return
    print(_text_table(["student", "assignment", "due (assignment)", "extension", "due (student)", "submitted",
                       "late by", "penalty"],
                      [[r["student"], r["assignment"], r["assignment_due"], r["extension"], r["due"],
                        r["submitted"] or "not yet", r["late"], f"{r['penalty']:g}"] for r in rows]))
    print(f"rule: {rows[0]['rule']}")


def _add_build_commands(add):
    """The instructor's build steps: source, generate, solutions, release."""
    add("source", cmd_source, "rebuild source/*/*.ipynb from the .src.py scripts", assignments=False)
    add("generate", cmd_generate, "generate the student versions into release/")
    s = add("solutions", cmd_solutions, "execute the source notebooks into solutions/")
    s.add_argument("--text-only", action="store_true", help="only the text changed: give the executed solutions "
                   "the source's markdown, keep their outputs (refused when a code cell changed)")
    add("release", cmd_release, "generate and release assignments to the exchange")


def _add_collect_command(add):
    """``collect``: from the exchange, or from an LMS's download."""
    c = add("collect", cmd_collect, "collect submissions from the exchange (or an LMS download) into submitted/")
    c.add_argument("--from", dest="source", help="an LMS's download of one assignment's submissions (.zip or its "
                   "folder) instead of the exchange; needs --lms")
    c.add_argument("--lms", choices=["moodle", "canvas"], help="the LMS that made the download")
    c.add_argument("--roster", help="LMS ids to student ids: Moodle's grading worksheet, Canvas' gradebook export "
                   "(or a CSV with lms_id,student_id)")
    c.add_argument("--id-column", help="the roster's column of student ids (default: Canvas SIS Login ID; "
                   "Moodle ID number, else the email before @)")


def _add_grade_command(add):
    """``grade``: which submissions, where, and the limits that override the course's."""
    g = add("grade", cmd_grade, "autograde submissions in parallel, each in its own sandbox")
    g.add_argument("--student", action="append", help="only this student (repeatable)")
    g.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    g.add_argument("--scheduler", help="a Dask scheduler address, e.g. tcp://host:8786")
    g.add_argument("--force", action="store_true", help="regrade submissions already graded")
    # the defaults are the course's (c.GradingLimits in nbgrader_config.py); these override them
    g.add_argument("--timeout", type=int, help="seconds per cell (default: c.GradingLimits, derived per assignment "
                   "from its reference run)")
    g.add_argument("--total-timeout", type=int, help="seconds per submission (default: c.GradingLimits.total_timeout)")
    g.add_argument("--memory-mb", type=int, help="memory cap of a kernel, MB (default: c.GradingLimits.memory_mb)")
    g.add_argument("--sandbox", choices=["auto", "bwrap", "none"],
                   help="kernel isolation (default: c.GradingLimits.sandbox; auto = bubblewrap where it works)")
    g.add_argument("--threads", type=int,
                   help="compute threads per kernel (default: the cores shared out among local workers)")
    g.add_argument("--no-preload", action="store_true",
                   help="start a fresh `python -m nbgrader` per submission instead of forking a worker "
                        "that imported nbgrader once")


def _add_output_commands(add):
    """What comes out of grading: feedback, export, report, bundle."""
    f = add("feedback", cmd_feedback, "write feedback HTML per student (hidden tests not shown)")
    f.add_argument("--student", action="append")
    f.add_argument("--show-hidden-tests", action="store_true", help="show hidden test code too")
    e = add("export", cmd_export, "export grades to CSV", assignments=False)
    e.add_argument("--to", default=None, help="CSV path (default reports/grades.csv)")
    e.add_argument("--lms", choices=["moodle", "canvas"], help="write the LMS's grade-import CSV and bulk "
                   "feedback zip (reports/lms/) for the assignments collected from it")
    e.add_argument("--assignment", action="append", help="with --lms: only this assignment (repeatable)")
    e.add_argument("--roster", help="with --lms: the roster to fill (default: the one given to collect)")
    e.add_argument("--missing", choices=["blank", "zero"], default="blank",
                   help="with --lms: a student on the roster without a submission (default blank: no change)")
    e.add_argument("--no-feedback", action="store_true", help="with --lms: grades only, no feedback zip")
    r = add("report", cmd_report, "write the instructor report (HTML with figures)", assignments=False)
    r.add_argument("--out", default=None, help="output folder (default reports/)")
    b = add("bundle", cmd_bundle, "write what students get: the student wheel, the release notebooks "
            "and a README (local Jupyter and Colab), and a zip of them", assignments=False)
    b.add_argument("--out", default=None, help="output folder (default dist/bundle; a previous bundle there "
                   "is replaced)")
    b.add_argument("--no-zip", action="store_true", help="write the folder only, no <out>.zip")


def _add_class_commands(add):
    """Running a class: demo, similarity, extensions."""
    d = add("demo", cmd_demo, "release, simulate a class, grade it, write feedback and the report")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--lms", choices=["moodle", "canvas"], help="the class hands in through this LMS instead: "
                   "a simulated download of one assignment (default 01_convolution) collected, graded, exported")
    s = add("similarity", cmd_similarity, "compare what students wrote in the answer cells, pair by pair "
            "(winnowing); writes reports/similarity/<assignment>/: a lead for a person, not a verdict")
    s.add_argument("--workers", type=int, default=2, help="assignments compared in parallel (default 2)")
    x = add("extend", cmd_extend, "grant a student an extension (nbgrader's gradebook); lateness and late "
            "penalties follow it", assignments=False)
    x.add_argument("student")
    x.add_argument("assignment")
    x.add_argument("--days", type=float, default=0, help="days added to the due date (0 and --hours 0: remove)")
    x.add_argument("--hours", type=float, default=0, help="hours added to the due date")
    xs = add("extensions", cmd_extensions, "list the extensions granted, with lateness and penalty")
    xs.add_argument("--all", action="store_true", help="every submission, not only those with an extension")


def build_parser():
    """The ``parcel-course`` parser: one subcommand per step, in the order a course runs them."""
    p = argparse.ArgumentParser(prog="parcel-course", description=(
        "Run the parcel course with nbgrader: build, release, collect, grade in parallel "
        "in a sandbox, feedback, export and report. Plain `nbgrader ...` commands keep "
        "working on the same course directory."))
    p.add_argument("--root", default=".", help="the course directory (default: current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, fn, help, assignments=True):
        sp = sub.add_parser(name, help=help, description=help)
        if assignments:
            sp.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
        sp.set_defaults(fn=fn)
        return sp

    for add_commands in (_add_build_commands, _add_collect_command, _add_grade_command,
                         _add_output_commands, _add_class_commands):
        add_commands(add)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from parcel_course.directory import CourseError   # imported by the subcommand that needs it: `parcel-course --help` stays fast
    try:
        args.fn(args)
    except CourseError as exc:
        print(f"parcel-course: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("parcel-course: interrupted; what was graded is kept, rerun to resume.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
