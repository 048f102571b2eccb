"""Pipeline checks, for every assignment of the course.

- source/*.ipynb are current with their .src.py scripts;
- release/ is current: regenerating it from source/ gives the same notebooks;
- release notebooks hold no solution code and no hidden tests;
- grading sanity, by really running nbgrader autograde (through our parallel
  grader) in a temporary course: the reference solution gets full marks on
  every autograded cell, the untouched release gets zero, and one deliberately
  wrong answer loses exactly that question's points.

The solutions themselves are re-executed by nbval (``pytest --nbval-lax solutions``).
"""
import json
import os
import re
import shutil

import nbformat
import pytest

from parcel_course.authoring import build_source
from parcel_course.directory import Course
from parcel_course import grading
from wrong_answers import HIDE_FAILURES, WRONG_ANSWERS
from conftest import ROOT

COURSE = Course(ROOT)
# PARCEL_ASSIGNMENTS="01_convolution 02_parameters" restricts the checks (while developing one).
ASSIGNMENTS = os.environ.get("PARCEL_ASSIGNMENTS", "").split() or COURSE.assignments()
# Notebooks that train networks: executed once per run, by the grading batch (see the end).
HEAVY = [a for a in ("04_cnn",) if a in ASSIGNMENTS]


def _cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True))
            for c in nb.cells]


def test_course_has_assignments():
    assert ASSIGNMENTS, "source/ holds no assignment"


def test_every_assignment_has_a_wrong_answer():
    missing = [a for a in ASSIGNMENTS if a not in WRONG_ANSWERS]
    assert not missing, f"declare a wrong answer for {missing} in tests/wrong_answers.py"


def test_source_notebooks_are_current(tmp_path):
    built = build_source(ROOT / "source", out_dir=tmp_path)
    assert built
    for nb in built:
        committed = ROOT / "source" / nb.parent.name / nb.name
        assert committed.exists(), f"{committed} is missing: run `make source`"
        assert committed.read_text() == nb.read_text(), f"{committed} is stale: run `make source`"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    COURSE.generate(ASSIGNMENTS, release_dir=out, db=False)
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_current(assignment, regenerated):
    fresh = sorted(p.name for p in (regenerated / assignment).glob("*.ipynb"))
    committed = sorted(p.name for p in (ROOT / "release" / assignment).glob("*.ipynb"))
    assert fresh == committed, f"release/{assignment} differs in its notebooks: run `make release`"
    for name in fresh:
        assert _cells(regenerated / assignment / name) == _cells(ROOT / "release" / assignment / name), \
            f"release/{assignment}/{name} is stale: run `make release`"


def _solution_lines(source_nb):
    """Substantial code lines found only inside BEGIN/END SOLUTION and hidden-test blocks."""
    hidden, visible = [], set()
    block = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END (SOLUTION|HIDDEN TESTS)", re.S)
    for cell in nbformat.read(source_nb, as_version=4).cells:
        for m in block.finditer(cell.source):
            hidden += [l.strip() for l in m.group(2).splitlines()
                       if len(l.strip()) > 25 and not l.strip().startswith("#")]
        visible.update(l.strip() for l in block.sub("", cell.source).splitlines())
    return [l for l in hidden if l not in visible]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_nor_hidden_test(assignment):
    for nb_path in (ROOT / "release" / assignment).glob("*.ipynb"):
        text = "\n".join(c.source for c in nbformat.read(nb_path, as_version=4).cells)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                       "BEGIN MARK SCHEME"):
            assert marker not in text, f"{nb_path.name} contains {marker!r}"
        # a solution line shown as a line of code (instructions may describe what to write)
        code = {l.strip() for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"
                for l in c.source.splitlines()}
        leaked = [l for l in _solution_lines(ROOT / "source" / assignment / nb_path.name) if l in code]
        assert not leaked, f"{nb_path.name} shows solution/hidden-test code: {leaked[:3]}"


_ATTEST_CALL = re.compile(r"\battest(_model)?\(\s*[\"']([A-Za-z0-9_]+)[\"']")


def _named_checks(assignment):
    """(notebook, test cell grade id, graded?) -> the keys its attest/attest_model calls name, over the source notebooks."""
    out = {}
    for nb_path in sorted((ROOT / "source" / assignment).glob("*.ipynb")):
        for c in nbformat.read(nb_path, as_version=4).cells:
            meta = c.metadata.get("nbgrader", {})
            if c.cell_type == "code":
                keys = [m.group(2) for m in _ATTEST_CALL.finditer(c.source)]
                if keys or (meta.get("grade") and not meta.get("solution")):
                    out[(nb_path.stem, meta.get("grade_id"), bool(meta.get("grade")) and not meta.get("solution"))] = keys
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_autograded_test_cell_is_attested(assignment):
    """Each graded test cell makes at least one check the grader recomputes outside the kernel (README, Limits).

    A cell without one would be scored from the kernel's outputs alone, which a student's code controls.
    """
    for (notebook, cell, graded), keys in _named_checks(assignment).items():
        if graded:
            assert keys, f"{notebook}: the test cell {cell} attests nothing"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_registry_matches_the_test_cells(assignment):
    """Every key a test cell names is in the registry, in that cell; every registry key is named by its cell."""
    from parcel_course import registry
    declared = {c.key: c for c in registry.checks_of(assignment)}
    named = _named_checks(assignment)
    used = set()
    for (notebook, cell, graded), keys in named.items():
        for key in keys:
            assert key in declared, f"{notebook}/{cell} names the key {key!r}, which the registry lacks"
            check = declared[key]
            assert (check.notebook, check.cell) == (notebook, cell), \
                f"{key!r} is declared for {check.notebook}/{check.cell} but called in {notebook}/{cell}"
            assert graded, f"{notebook}/{cell} attests {key!r} but is not a graded test cell"
            used.add(key)
    unused = sorted(set(declared) - used)
    assert not unused, f"the registry of {assignment} holds keys no test cell uses: {unused}"


def test_registry_keys_are_unique_across_the_course():
    from parcel_course import registry
    assert len(registry.all_checks()) == sum(len(registry.checks_of(a)) for a in registry.MODULES)


# -- grading sanity ---------------------------------------------------------------------

def _wrong_submission(assignment, src_dir, dst_dir):
    spec = WRONG_ANSWERS[assignment]
    for nb_path in src_dir.glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        if nb_path.stem == spec["notebook"]:
            cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == spec["cell"]]
            assert len(cells) == 1, f"wrong answer of {assignment}: no cell {spec['cell']!r}"
            assert spec["find"] in cells[0].source, f"wrong answer of {assignment}: {spec['find']!r} not in the cell"
            cells[0].source = cells[0].source.replace(spec["find"], spec["replace"])
            if assignment in HEAVY:
                # graded once per run anyway: the wrong answer also hides its failure in the kernel,
                # so only the grader's own recomputation (attest) can take the points away
                cells[0].source += "\n" + HIDE_FAILURES
        nbformat.write(nb, dst_dir / nb_path.name)


# A heavy assignment's faker: the reference answers, but no network is trained (train_model only
# compiles and returns a made-up History) and every failure is hidden in the kernel (HIDE_FAILURES).
# The kernel says every test passes; only the grader's own check of the saved models
# (parcel_utils.attest.attest_model, checked by the registry) can take the accuracy points away. Cheap: nothing is trained.
# the test cells the faker loses, with what the grader's own check says
_ACCURACY = "accuracy, computed from its predictions"
FAKERS = {"04_cnn": dict(notebook="cnn", cell="train_scratch", losers={
    "test_scratch_accuracy": _ACCURACY, "test_transfer_accuracy": _ACCURACY,
    "test_build_transfer_model": "the number of trainable parameters",
    "test_scratch_no_leakage": "is not its loss on the validation split"}, extra={"build_transfer_model": '''
def build_transfer_model(backbone, num_classes=NUM_CLASSES):
    """The backbone left trainable: all of it fine-tuned from the first epoch."""
    inputs = keras.Input(backbone.input_shape[1:], name="depth_mm")
    x = layers.Dropout(0.3)(backbone(inputs))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax", name="new_head")(x), name="transfer")
'''}, code=HIDE_FAILURES + '''
# the accuracy checks too: nothing raises in the kernel
checks.check_accuracy_against_reference = checks.check_in_range = lambda *a, **k: None
checks.check_selected_on_validation = checks.check_disjoint_rows = lambda *a, **k: None


def train_model(model, train_ds, val_ds, epochs, learning_rate, name, patience=4):
    """No training at all: a made-up History."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = keras.callbacks.History()
    history.history = {"loss": [0.1], "val_loss": [0.1], "accuracy": [0.99], "val_accuracy": [0.99]}
    return history


keras.utils.set_random_seed(SEED)
scratch_model = build_scratch_cnn(make_augmentation(seed=SEED))
scratch_history = train_model(scratch_model, None, None, epochs=EPOCHS, learning_rate=5e-3, name="scratch")
''')}


def _faker_submission(assignment, src_dir, dst_dir):
    spec = FAKERS[assignment]
    for nb_path in src_dir.glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        if nb_path.stem == spec["notebook"]:
            for gid, code in {spec["cell"]: spec["code"], **spec.get("extra", {})}.items():
                (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid]
                cell.source = code
        nbformat.write(nb, dst_dir / nb_path.name)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """One temporary course, three students per assignment, graded in parallel once."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns("*.src.py"))
    course = Course(root)
    course.generate(ASSIGNMENTS)
    for a in ASSIGNMENTS:
        fakers = [("faker", _faker_submission)] if a in FAKERS else []
        for student, make in [("reference", None), ("blank", None), ("wrong", _wrong_submission)] + fakers:
            d = course.submitted / student / a
            d.mkdir(parents=True)
            if student == "reference":
                for nb in (root / "source" / a).glob("*.ipynb"):
                    shutil.copy(nb, d)
            elif student == "blank":
                for nb in (root / "release" / a).glob("*.ipynb"):
                    shutil.copy(nb, d)
            else:
                make(a, root / "source" / a, d)
    # grade_all hands the heavy notebooks out first (grading.longest_first): the light ones fill the other worker
    results = grading.grade_all(course, ASSIGNMENTS, workers=2, progress=False)
    return {(r.student, r.assignment): r for r in results}


def _auto(result):
    """Autograded test cells: (notebook, grade_id) -> (score, max)."""
    return {(g["notebook"], g["grade_id"]): (g["auto_score"], g["max_score"]) for g in result.grades
            if g["cell_type"] == "code" and not g["needs_manual_grade"] and not _is_answer(g)}


def _is_answer(g):
    return g["grade_id"] in _answer_ids()


_ANSWER_IDS = None


def _answer_ids():
    global _ANSWER_IDS
    if _ANSWER_IDS is None:
        _ANSWER_IDS = set()
        for nb in (ROOT / "source").glob("*/*.ipynb"):
            for c in nbformat.read(nb, as_version=4).cells:
                m = c.metadata.get("nbgrader", {})
                if m.get("solution"):
                    _ANSWER_IDS.add(m["grade_id"])
    return _ANSWER_IDS


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_gets_full_marks(assignment, graded):
    r = graded[("reference", assignment)]
    assert r.status == "graded", r.reason + r.log[-2000:]
    auto = _auto(r)
    assert auto, "no autograded test cell"
    lost = {k: v for k, v in auto.items() if v[0] != v[1]}
    errors = [g["error"] for g in r.grades if g["error"]]
    assert not lost, f"the reference solution loses points on {lost}: {errors}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_gets_zero(assignment, graded):
    r = graded[("blank", assignment)]
    assert r.status == "graded", r.reason
    scored = {k: v for k, v in _auto(r).items() if v[0] != 0}
    assert not scored, f"an untouched release scores on {scored}"
    assert r.score == 0


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_one_wrong_answer_loses_exactly_its_points(assignment, graded):
    spec = WRONG_ANSWERS[assignment]
    r = graded[("wrong", assignment)]
    ref = graded[("reference", assignment)]
    assert r.status == "graded", r.reason
    auto = _auto(r)
    for (nb, gid), (score, mx) in auto.items():
        if nb == spec["notebook"] and gid in spec["loses"]:
            assert score == 0, f"{gid} should lose its {mx} points with the wrong answer, scored {score}"
        else:
            assert score == mx, f"{gid} should keep its {mx} points, scored {score}"
    lost = sum(mx for (nb, gid), (s, mx) in auto.items() if nb == spec["notebook"] and gid in spec["loses"])
    assert r.score == pytest.approx(ref.score - lost)
    if assignment in HEAVY:       # the failure was hidden in the kernel: the grader says so, cell by cell
        tampered = {f.get("cell") for f in r.flags if f["reason"].startswith("tampering")}
        assert tampered == set(spec["loses"]), r.flags
        assert not ref.flags, ref.flags


@pytest.mark.slow
@pytest.mark.parametrize("assignment", [a for a in HEAVY if a in FAKERS])
def test_untrained_models_behind_hidden_failures_lose_the_attested_points(assignment, graded):
    spec = FAKERS[assignment]
    r = graded[("faker", assignment)]
    assert r.status == "graded", r.reason + r.log[-2000:]
    auto = _auto(r)
    for cell in spec["losers"]:
        assert auto[(spec["notebook"], cell)][0] == 0, (cell, auto[(spec["notebook"], cell)])
    tampered = {f.get("cell"): f["reason"] for f in r.flags if f["reason"].startswith("tampering")}
    assert set(spec["losers"]) <= set(tampered), r.flags
    for cell, why in spec["losers"].items():
        assert why in tampered[cell], tampered[cell]
    # the other attested cells of the faker (the reference answers) pass outside the kernel as well
    for cell in ("test_make_augmentation", "test_build_scratch_cnn", "test_prepare_fine_tuning"):
        assert auto[(spec["notebook"], cell)][0] == auto[(spec["notebook"], cell)][1], (cell, r.flags)


# -- heavy notebooks: executed once per run ----------------------------------------------
# nbval re-executes the light solutions (`make test` runs `pytest --nbval-lax solutions`);
# a heavy one (training networks) is executed once, by the reference submission of the
# grading batch above, and its checked outputs are compared with the committed solution
# here. The Makefile leaves these out of nbval (--ignore=solutions/<a>).


def _checked_outputs(nb):
    """Text outputs of the cells tagged nbval-check-output, by cell id."""
    out = {}
    for c in nb.cells:
        if c.cell_type == "code" and "nbval-check-output" in c.metadata.get("tags", []):
            texts = []
            for o in c.get("outputs", []):
                if o.get("output_type") == "stream" and o.get("name") == "stdout":
                    texts.append(o["text"])
                elif o.get("output_type") == "execute_result":
                    texts.append(o.get("data", {}).get("text/plain", ""))
            out[c.source] = "".join(texts).strip()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("assignment", HEAVY)
def test_heavy_solution_outputs_match_the_reference_run(assignment, graded):
    r = graded[("reference", assignment)]
    assert r.status == "graded", r.reason
    for name, text in r.notebooks.items():
        ran = _checked_outputs(nbformat.reads(text, as_version=4))
        committed = _checked_outputs(nbformat.read(ROOT / "solutions" / assignment / f"{name}.ipynb", as_version=4))
        assert committed, f"solutions/{assignment}/{name}.ipynb has no nbval-check-output cell"
        for source, expected in committed.items():
            assert ran.get(source) == expected, (
                f"{assignment}/{name}: a checked cell's output changed; rerun `make solutions`.\n"
                f"cell: {source[:200]}\ncommitted: {expected[:500]}\nnow: {ran.get(source, '<missing>')[:500]}")
