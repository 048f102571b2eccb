"""Unit tests of parcel_utils.backbone (source task, loading by name / path, offline ImageNet) and of
04's reference 1-NN search (parcel_course/assignments/04_cnn/reference.py)."""
import socket

import numpy as np
import pytest

from parcel_utils import backbone
from parcel_course.assignments import load

nearest_neighbours_l1 = load("04_cnn", "reference").nearest_neighbours_l1
from parcel_utils.backbone import BUNDLED, DEFAULT_WEIGHTS, OfflineWeightsError, build_backbone, load_backbone
from parcel_utils.objects import MAX_OBJECTS, OBJECT_KINDS, THICKNESS_BINS_MM, make_object_scenes
from parcel_utils.data import BELT_THRESHOLD_MM, IMAGE_SIZE


def test_object_scenes_labels_units_and_reproducibility():
    X, lab = make_object_scenes(400, seed=5)
    assert X.shape == (400, IMAGE_SIZE, IMAGE_SIZE) and X.dtype == np.float32
    assert sorted(lab) == ["count", "kind", "thickness"] and all(v.dtype == np.int64 for v in lab.values())
    assert np.bincount(lab["kind"], minlength=len(OBJECT_KINDS)).min() > 5            # every kind is drawn
    assert np.bincount(lab["count"], minlength=MAX_OBJECTS).min() > 60                  # 1 to 4 objects
    assert np.bincount(lab["thickness"], minlength=len(THICKNESS_BINS_MM) + 1).min() > 20
    # the parcel sensor: 0 or above the belt threshold, heights in mm
    assert ((X == 0) | (X >= BELT_THRESHOLD_MM)).all() and 200 < X.max() < 660
    assert ((X > 0).mean(axis=(1, 2)) > 0.005).all()                                    # every map shows something
    # the thickness label follows the heights: thin scenes of one object are low
    one = lab["count"] == 0
    assert np.median(X[one & (lab["thickness"] == 0)].max(axis=(1, 2))) < THICKNESS_BINS_MM[0] + 20
    assert np.median(X[one & (lab["thickness"] == 3)].max(axis=(1, 2))) > THICKNESS_BINS_MM[2]
    X2, lab2 = make_object_scenes(400, seed=5)
    np.testing.assert_array_equal(X, X2)
    assert all((lab[k] == lab2[k]).all() for k in lab)
    assert not np.array_equal(X, make_object_scenes(400, seed=6)[0])
    with pytest.raises(ValueError, match="`n`"):
        make_object_scenes(-1)


def test_object_scenes_never_come_from_the_parcel_generator():
    """The source task's maps are its own: none equals a map of the parcel splits (seed 0)."""
    from parcel_utils.data import generate_parcels
    X, _ = make_object_scenes(300, seed=0)
    P, _ = generate_parcels("train", n=300)
    flat = {m.tobytes() for m in P}
    assert not any(m.tobytes() in flat for m in X)


def test_build_backbone_is_flat_and_maps_mm_to_features():
    m = build_backbone((32, 32, 1))
    assert m.input_shape == (None, 32, 32, 1) and m.output_shape == (None, 1280)
    names = [l.name for l in m.layers]
    assert "mm_to_unit" in names and "block_16_project" in names      # flat: MobileNetV2 layers exposed
    with pytest.raises(ValueError, match="input_shape"):
        build_backbone((16, 16, 1))
    with pytest.raises(ValueError, match="input_shape"):
        build_backbone((32, 32, 3))


def test_load_backbone_by_path_round_trips(tmp_path):
    import keras
    keras.utils.set_random_seed(0)
    m = build_backbone((32, 32, 1))
    path = tmp_path / "fen.weights.h5"
    m.save_weights(path)
    m2 = load_backbone(path, input_shape=(32, 32, 1), trainable=False)
    assert not m2.trainable
    x = np.random.default_rng(0).uniform(0, 200, (2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_backbone(tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError, match="everyday-objects"):
        load_backbone("resnet")


@pytest.mark.skipif(not BUNDLED[DEFAULT_WEIGHTS].exists(), reason="bundled weights not built yet")
def test_load_backbone_by_name_gives_the_bundled_weights():
    fen = load_backbone("everyday-objects")
    rand = load_backbone(None)
    assert fen.output_shape == (None, 1280)
    w, r = fen.get_layer("Conv1").get_weights()[0], rand.get_layer("Conv1").get_weights()[0]
    assert w.shape == r.shape and not np.allclose(w, r)
    # the bundled file is small (a few MB at most) and documented
    assert BUNDLED[DEFAULT_WEIGHTS].stat().st_size < 5e6
    assert (backbone.WEIGHTS_DIR / "MODEL_CARD.md").exists()


def test_imagenet_offline_names_the_bundled_alternative(tmp_path, monkeypatch):
    """With the network unreachable and an empty Keras cache, one clear message."""
    def unreachable(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")
    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    with pytest.raises(OfflineWeightsError) as err:
        load_backbone("imagenet", input_shape=(64, 64, 1), cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "offline" in msg and 'load_backbone(weights="everyday-objects")' in msg
    assert "Traceback" not in msg


def test_imagenet_uses_a_cached_copy(tmp_path):
    """Where Keras has the file cached, "imagenet" loads it (a stand-in file here: nothing is downloaded)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    keras.utils.set_random_seed(1)
    ref = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=backbone.ALPHA, include_top=False,
                                         weights=None, pooling="avg")
    (tmp_path / "models").mkdir()
    fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(backbone.ALPHA)}_96_no_top.h5"
    with h5py.File(tmp_path / "models" / fname, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    fen = load_backbone("imagenet", input_shape=(64, 64, 1), cache_dir=str(tmp_path))
    np.testing.assert_array_equal(fen.get_layer("Conv1").get_weights()[0], ref.get_layer("Conv1").get_weights()[0])
    assert fen.get_layer("Conv1").get_weights()[0].shape[2] == 3        # RGB filters, fed a repeated depth map
    assert fen.input_shape == (None, 64, 64, 1)


def test_nearest_neighbours_l1_matches_brute_force():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 7))
    Q = rng.normal(size=(9, 7))
    idx, dist = nearest_neighbours_l1(A, Q, k=3, max_bytes=8 * 40 * 4)
    D = np.abs(Q[:, None] - A[None]).mean(-1)
    np.testing.assert_array_equal(idx, np.argsort(D, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(dist, np.sort(D, axis=1)[:, :3])
    with pytest.raises(ValueError, match="same F"):
        nearest_neighbours_l1(A, Q[:, :3])
    with pytest.raises(ValueError, match="`k`"):
        nearest_neighbours_l1(A[:2], Q, k=3)


def test_the_backbone_module_gives_no_answer_of_04():
    assert not hasattr(backbone, "nearest_neighbours_l1") and "nearest_neighbours_l1" not in backbone.__all__
