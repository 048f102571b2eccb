"""nbgrader configuration of the parcel course.

Every path is relative to this file, so the checkout is the course directory:
`nbgrader ...` and `parcel-course ...` both work from here.  Environment
variables override the machine-specific parts:

PARCEL_EXCHANGE      the exchange root (default: ./exchange, ignored by git)
PARCEL_DB_URL        the gradebook's database, e.g. postgresql://user:pw@host/db (default: ./gradebook.db)

The course is configured by one function, ``parcel_course.config.configure_course``
(called last, below), the same one each ``parcel-course grade`` worker calls for
its private course directory: plain ``nbgrader autograde``, formgrader's Autograde
button and ``parcel-course grade`` all run the kernel in the sandbox, with the
limits below, and verify the attested hidden tests outside it.  ``parcel-course
grade`` adds only parallel workers (and watches memory, disk and processes from
outside).  What is set here is what an instructor chooses: the limits and the
late rule.
"""
import os

from parcel_course.config import configure_course

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

# What a student's kernel may use while graded (parcel_course.limits.GradingLimits; every name has a help
# string: `python -c "from parcel_course.limits import GradingLimits as G; print(G.class_get_help())"`).
# Timeouts: 0 derives them per assignment from its reference run in solutions/ (5 x its slowest cell, at
# least 30 s; 5 x the whole run, at least 180 s), so that a runaway loop in 01 stops in seconds and a
# training cell of 04 is never cut. Override any limit per assignment, e.g. {"04_cnn": {"cell_timeout": 900,
# "memory_mb": 8192}}: every grading path (plain nbgrader autograde, formgrader, parcel-course grade) resolves
# them once per assignment (parcel_course.limits) and grades under the result.
c.GradingLimits.cell_timeout = 0
c.GradingLimits.total_timeout = 0
c.GradingLimits.per_assignment = {}
c.GradingLimits.memory_mb = 6144
c.GradingLimits.sandbox = "auto"             # bubblewrap where it works

# Late submissions (parcel_course.late.LatePenalty; `parcel-course extensions` lists lateness and penalties,
# `parcel-course extend STUDENT ASSIGNMENT --days N` grants an extension). The penalty is a share of the points
# each notebook earned, per started day (or hour) after the student's due date (the assignment's due date in the
# gradebook plus the student's extension); feedback says how late, the rule and the points taken off.
c.LatePenalty.percent = 10.0                 # per started day late
c.LatePenalty.unit = "day"                   # or "hour"
c.LatePenalty.grace_minutes = 15.0           # up to 15 minutes late counts as on time
c.LatePenalty.max_percent = 50.0             # the cap
c.LatePenalty.zero_after_days = 7.0          # more than a week late: zero

# The course's directories and gradebook (PARCEL_DB_URL, PARCEL_EXCHANGE), the sandboxed, guarded Execute, the
# attested inputs and the verification outside the kernel, feedback without hidden tests (`parcel-course feedback
# --show-hidden-tests` shows everything), the late rule above, and formgrader's and the feedback pages' safeguards
# against what a student wrote or printed (sanitised HTML, a Content-Security-Policy with a nonce).
configure_course(c, here)
