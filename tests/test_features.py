"""Unit tests of the reference features (parcel_course/assignments/03_handcrafted/reference.py: shapes of known geometry) and the leakage check."""
import numpy as np
import pytest

from parcel_course.assignments import load

F = load("03_handcrafted", "reference")
from parcel_course.metrics import record_reference_metric
from parcel_utils.checks import check_accuracy_against_reference, check_no_leakage
from parcel_utils.shapes import disc, rectangle, rotated_rectangle, with_dropout


def test_rectangle_known_geometry():
    d = rectangle()
    assert F.average_height(d) == 100.0
    assert F.area(d) == (800, 800 * 64.0)
    assert F.area(d, pixel_mm=2.0) == (800, 3200.0)
    hist = F.height_histogram(d)
    assert hist.shape == (len(F.HEIGHT_BINS_MM) - 1,) and hist.sum() == pytest.approx(1.0)
    assert hist[np.searchsorted(F.HEIGHT_BINS_MM, 100.0, side="right") - 1] == 1.0
    assert F.perimeter(d) == pytest.approx(2 * (39 + 19))
    L, W, D = F.diagonals(d)
    assert (L, W) == (40.0, 20.0) and D == pytest.approx(np.hypot(40, 20))


def test_rectangle_with_dropout():
    d = with_dropout(rectangle(), rate=0.08, seed=1)
    n = int((d > 0).sum())
    assert n < 800
    assert F.average_height(d) == 100.0            # zeros are missing data, not heights
    assert F.area(d)[0] == n                       # area counts measured pixels
    assert F.footprint(d).sum() == 800             # the footprint repairs the holes
    assert F.perimeter(d) == pytest.approx(116.0)
    assert F.diagonals(d)[:2] == (40.0, 20.0)


def test_disc():
    for d in (disc(), with_dropout(disc(), rate=0.05, seed=2)):
        r = 15.0
        assert F.footprint(d).sum() == pytest.approx(np.pi * r * r, rel=0.03)
        assert F.perimeter(d) == pytest.approx(2 * np.pi * r, rel=0.08)
        L, W, D = F.diagonals(d)
        assert L == pytest.approx(2 * r + 1, abs=1.01) and W == pytest.approx(2 * r + 1, abs=1.01)
        assert F.average_height(d) == 50.0


@pytest.mark.parametrize("deg", [0.0, 17.0, 30.0, 45.0, 120.0])
def test_rotated_rectangle(deg):
    for d in (rotated_rectangle(degrees=deg), with_dropout(rotated_rectangle(degrees=deg), rate=0.05, seed=3)):
        L, W, D = F.diagonals(d)
        assert L == pytest.approx(40, abs=1.6) and W == pytest.approx(20, abs=1.6)
        assert F.perimeter(d) == pytest.approx(120, rel=0.08)
        assert F.footprint(d).sum() == pytest.approx(800, rel=0.05)


def test_histogram_fixed_bins_and_empty_map():
    d = np.zeros((8, 8)); d[0, :4] = [5, 15, 15, 650]
    h = F.height_histogram(d)
    assert h[0] == 0.25 and h[1] == 0.5 and h[-1] == 0.25
    z = np.zeros((8, 8))
    assert F.average_height(z) == 0.0 and F.area(z) == (0, 0.0)
    assert not F.height_histogram(z).any() and F.perimeter(z) == 0.0 and F.diagonals(z) == (0.0, 0.0, 0.0)
    assert np.all(F.parcel_features(z) == 0)


def test_footprint_drops_specks_and_fills_notches():
    d = rectangle()
    d[10, 20] = 0                                   # a notch on the outline
    d[60, 60] = 9.0                                 # a flying pixel far away
    fp = F.footprint(d)
    assert fp.sum() == 800 and not fp[60, 60]


def test_feature_matrix_matches_single_maps():
    from parcel_utils.data import generate_parcels
    X, _ = generate_parcels("val", n=12)
    M = F.feature_matrix(X)
    assert M.shape == (12, len(F.FEATURE_NAMES)) and np.isfinite(M).all()
    for i in (0, 5, 11):
        assert np.array_equal(M[i], F.parcel_features(X[i]))
        assert M[i, 0] == pytest.approx(F.average_height(X[i]))
        assert M[i, 1] == pytest.approx(F.area(X[i])[1])
        assert np.allclose(M[i, 2:12], F.height_histogram(X[i]))
        assert M[i, 12] == pytest.approx(8 * F.perimeter(X[i]))
        assert np.allclose(M[i, 13:16], 8 * np.array(F.diagonals(X[i])))
    assert F.feature_matrix(X[..., None]).shape == M.shape


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="depth"):
        F.average_height(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="X"):
        F.feature_matrix(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="pixel_mm"):
        F.area(np.zeros((8, 8)), pixel_mm=0)


# ---------------------------------------------------------------- leakage check

@pytest.fixture(scope="module")
def splits():
    rng = np.random.default_rng(0)
    def make(n):
        X = rng.normal(size=(n, 6))
        return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return make(300), make(100), make(150)


def _svm():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    return make_pipeline(StandardScaler(), SVC(C=10))


def test_leakage_clean_pipelines_pass(splits):
    (Xtr, ytr), (Xva, yva), (Xte, _) = splits
    check_no_leakage(_svm().fit(Xtr, ytr), Xte, Xtr, Xva)
    check_no_leakage(_svm().fit(np.vstack([Xtr, Xva]), np.r_[ytr, yva]), Xte, Xtr, Xva)
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    rf = make_pipeline(MinMaxScaler(), RandomForestClassifier(20, random_state=0)).fit(Xtr, ytr)
    check_no_leakage(rf, Xte, Xtr, Xva)


@pytest.mark.parametrize("how", ["train+test", "test", "train+val+test", "train+half test"])
def test_leakage_detected_from_the_scaler(splits, how):
    (Xtr, ytr), (Xva, yva), (Xte, yte) = splits
    X, y = {"train+test": (np.vstack([Xtr, Xte]), np.r_[ytr, yte]),
            "test": (Xte, yte),
            "train+val+test": (np.vstack([Xtr, Xva, Xte]), np.r_[ytr, yva, yte]),
            "train+half test": (np.vstack([Xtr, Xte[:75]]), np.r_[ytr, yte[:75]])}[how]
    with pytest.raises(AssertionError, match="fitted on"):
        check_no_leakage(_svm().fit(X, y), Xte, Xtr, Xva)


def test_leakage_detected_from_support_vectors(splits):
    # A scaler fitted on training rows, but the SVM trained on test rows too.
    (Xtr, ytr), (Xva, _), (Xte, yte) = splits
    from sklearn.svm import SVC
    pipe = _svm()
    pipe.steps[0][1].fit(Xtr)
    scaler = pipe.steps[0][1]
    svm = SVC(C=10).fit(scaler.transform(np.vstack([Xtr, Xte])), np.r_[ytr, yte])
    pipe.steps[1] = ("svc", svm)
    with pytest.raises(AssertionError, match="test row"):
        check_no_leakage(pipe, Xte, Xtr, Xva)


def test_leakage_check_needs_something_to_inspect(splits):
    (Xtr, ytr), _, (Xte, _) = splits
    from sklearn.ensemble import RandomForestClassifier
    with pytest.raises(AssertionError, match="StandardScaler"):
        check_no_leakage(RandomForestClassifier(5).fit(Xtr, ytr), Xte, Xtr)


def test_reference_metric_round_trip(tmp_path):
    p = tmp_path / "m.json"
    e = record_reference_metric("03_handcrafted", "test_accuracy", 0.86, machine="test box", path=p)
    assert e["value"] == 0.86 and e["machine"] == "test box"
    check_accuracy_against_reference(0.82, "03_handcrafted", path=p)
    check_accuracy_against_reference(0.99, "03_handcrafted", path=p)   # better is never penalised
    with pytest.raises(AssertionError, match="points below"):
        check_accuracy_against_reference(0.80, "03_handcrafted", path=p)
    with pytest.raises(AssertionError, match="divide"):
        check_accuracy_against_reference(86.0, "03_handcrafted", path=p)
    with pytest.raises(AssertionError, match="no reference"):
        check_accuracy_against_reference(0.9, "04_cnn", path=p)


def test_shipped_reference_metric():
    from parcel_utils.checks import load_reference_metrics
    ref = load_reference_metrics()["03_handcrafted"]["test_accuracy"]
    assert 0.80 <= ref["value"] <= 0.92 and ref["machine"]
