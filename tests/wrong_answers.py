"""The wrong answer of each assignment, for the grading sanity checks.

They live in the package (``parcel_course.mistakes``) because the demo's
simulated class makes the same mistakes: add an assignment's entry there.
"""
from parcel_course.mistakes import MISTAKES as WRONG_ANSWERS  # noqa: F401

# The hostile part of a hider: neuters the check helpers (module and notebook names) and swallows every
# exception through IPython's hooks, so that the kernel says "pass" to every test that follows.
# tests/test_integrity.py grades it on 02 and 03; tests/test_pipeline.py puts it behind the wrong
# answer of a heavy assignment (graded once per run anyway), where only attestation can catch it.
HIDE_FAILURES = '''
import parcel_utils.checks as checks
checks.check_close = checks.check_equal = checks.compare_attested = lambda *a, **k: None
check_close = check_equal = lambda *a, **k: None
ip = get_ipython()
ip.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)
ip.events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
'''
