"""Unit tests of parcel_utils.data: the synthetic parcel depth maps."""
import hashlib
import multiprocessing as mp

import numpy as np
import pytest

from parcel_utils import data


def _digests(X):
    return {hashlib.sha1(x.tobytes()).hexdigest() for x in X}


def test_determinism_bit_for_bit():
    X1, y1 = data.generate_parcels("val", n=40, seed=3)
    X2, y2 = data.generate_parcels("val", n=40, seed=3)
    assert X1.tobytes() == X2.tobytes()
    assert np.array_equal(y1, y2)
    X3, _ = data.generate_parcels("val", n=40, seed=4)
    assert X1.tobytes() != X3.tobytes()


def test_prefix_does_not_depend_on_n():
    X10, y10 = data.generate_parcels("train", n=10)
    X30, y30 = data.generate_parcels("train", n=30)
    assert np.array_equal(X10, X30[:10]) and np.array_equal(y10, y30[:10])


def test_shapes_dtypes_and_values():
    X, y = data.generate_parcels("test", n=60)
    assert X.shape == (60, data.IMAGE_SIZE, data.IMAGE_SIZE) and X.dtype == np.float32
    assert y.shape == (60,) and y.dtype == np.int64
    assert X.min() == 0.0 and 30 < X.max() < 655
    measured = X[X > 0]
    assert measured.min() >= data.BELT_THRESHOLD_MM
    # Quantised to 0.1 mm.
    assert np.array_equal(np.rint(measured * 10) / np.float32(10), measured)
    # Every map has something on it, and background around it.
    cover = (X > 0).mean(axis=(1, 2))
    assert cover.min() > 0.01 and cover.max() < 0.9


def test_splits_disjoint():
    digests = {s: _digests(data.generate_parcels(s, n=200)[0]) for s in data.SPLITS}
    assert all(len(d) == 200 for d in digests.values())
    assert not digests["train"] & digests["val"]
    assert not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_all_classes_present_mildly_imbalanced():
    _, y = data.generate_parcels("val", n=500)
    counts = np.bincount(y, minlength=len(data.CLASS_NAMES))
    assert counts.min() > 0
    assert counts.max() / counts.min() < 3
    assert data.SPLITS["test"] >= 1000


def test_load_parcels_caches(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SPLITS", {"train": 30, "val": 20, "test": 25})
    X, y, names = data.load_parcels("val", cache_dir=tmp_path, progress=False)
    assert names == data.CLASS_NAMES
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    X2, y2, _ = data.load_parcels("val", cache_dir=tmp_path, progress=False)
    assert X2.dtype == np.float32 and X.tobytes() == X2.tobytes() and np.array_equal(y, y2)
    Xg, yg = data.generate_parcels("val", n=20)
    assert np.array_equal(Xg, X2)
    # The environment variable is honoured.
    monkeypatch.setenv("PARCEL_DATA_DIR", str(tmp_path / "env"))
    data.load_parcels("test", progress=False)
    assert list((tmp_path / "env").rglob("test.npz"))


def test_load_parcels_regenerates_a_damaged_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SPLITS", {"train": 30, "val": 20, "test": 25})
    X, _, _ = data.load_parcels("test", cache_dir=tmp_path, progress=False)
    f = next(tmp_path.rglob("test.npz"))
    f.write_bytes(b"not a zip file")
    X2, _, _ = data.load_parcels("test", cache_dir=tmp_path, progress=False)
    assert np.array_equal(X, X2)


def _load_in_child(args):
    cache_dir, q = args
    X, y, _ = data.load_parcels("val", cache_dir=cache_dir, progress=False)
    return hashlib.sha1(X.tobytes()).hexdigest()


def test_concurrent_first_loads_agree(tmp_path):
    # Two processes generating the same split at once must not corrupt the cache.
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        hashes = pool.map(_load_in_child, [(str(tmp_path), None)] * 2)
    assert hashes[0] == hashes[1]
    X, _, _ = data.load_parcels("val", cache_dir=tmp_path, progress=False)
    assert hashlib.sha1(X.tobytes()).hexdigest() == hashes[0]
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("bad", [dict(split="training"), dict(split="val", seed=-1), dict(split="val", seed=1.5)])
def test_bad_arguments_are_named(bad, tmp_path):
    with pytest.raises(ValueError, match="split|seed"):
        data.load_parcels(cache_dir=tmp_path, progress=False, **bad)


def test_export_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SPLITS", {"train": 30, "val": 12, "test": 25})
    X, y, names = data.load_parcels("val", cache_dir=tmp_path / "cache", progress=False)
    out = data.export_image_folders("val", tmp_path / "png", cache_dir=tmp_path / "cache", progress=False)
    files = sorted(out.rglob("*.png"))
    assert len(files) == 12
    for f in files:
        i = int(f.stem.split("_")[1])
        assert f.parent.name == names[y[i]]
        d = data.read_png_depth(f)
        assert d.dtype == np.float32 and np.array_equal(d, X[i])
    from PIL import Image
    assert np.asarray(Image.open(files[0])).dtype == np.uint16
