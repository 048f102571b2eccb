"""Unit tests of augmentation: the layer and transforms parcel_utils.augment gives, the 04 references (mixup, TTA)."""
import numpy as np
import pytest

from parcel_course.assignments import load
from parcel_utils import augment
from parcel_utils.augment import AUGMENTATION_LAYER_TYPES, D4_TRANSFORMS, SENSOR_TRANSFORMS

_ref = load("04_cnn", "reference")
aggregate_posteriors, augmentation_layers, mix_samples, mixup, tta_predict = (
    _ref.aggregate_posteriors, _ref.augmentation_layers, _ref.mix_samples, _ref.mixup, _ref.tta_predict)


def _maps(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), np.float32)
    x[:, 8:20, 10:24] = rng.uniform(20, 200, (n, 1, 1, 1))
    return x


def test_pipeline_has_the_label_preserving_layers_in_order():
    aug = augmentation_layers(seed=0)
    assert [type(l).__name__ for l in aug.layers] == list(AUGMENTATION_LAYER_TYPES)
    assert aug.layers[0].mode == "vertical"          # up-down only: the sensor's shadows stay on +x
    assert "RandomRotation" not in AUGMENTATION_LAYER_TYPES


def test_augmentation_keeps_the_shadow_side_on_plus_x():
    """No left-right flip, no rotation: heights in a map's left third never reach its right third."""
    x = np.zeros((32, 48, 48, 1), np.float32)
    x[:, 6:-6, 2:14] = 80.0
    for seed in range(3):
        out = np.asarray(augmentation_layers(seed=seed)(x, training=True))
        assert not np.any(out[:, :, 32:] > 0)
        assert np.any(out[:, :, :16] > 0)


def test_augmentation_is_the_identity_at_inference():
    x = _maps()
    aug = augmentation_layers(seed=0)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)
    # inside a model: active in fit, the identity in predict / evaluate
    import keras
    inp = keras.Input(x.shape[1:])
    model = keras.Model(inp, aug(inp))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(np.asarray(aug(x)), x)              # called directly: augments


def test_augmentation_changes_maps_in_training_and_keeps_zero_as_zero():
    x = _maps()
    out = np.asarray(augmentation_layers(seed=0)(x, training=True))
    assert out.shape == x.shape
    assert not np.array_equal(out, x)
    # nearest interpolation, zero fill and a gain on heights: no negative heights, the belt stays 0,
    # and every pixel is 0 or a height of its map times a gain within +-10 %
    assert out.min() == 0.0
    for o, m in zip(out, x):
        h = m.max()
        vals = o[o > 0]
        assert vals.size > 0 and np.all(vals >= 0.9 * h - 1e-3) and np.all(vals <= 1.1 * h + 1e-3)


def test_height_scale_is_a_gain_around_zero():
    layer = augment.RandomHeightScale(0.2, seed=3)
    x = _maps(8)
    out = np.asarray(layer(x, training=True))
    gains = out.reshape(8, -1).max(axis=1) / x.reshape(8, -1).max(axis=1)
    assert np.all((gains >= 0.8 - 1e-6) & (gains <= 1.2 + 1e-6)) and np.ptp(gains) > 0
    np.testing.assert_allclose(out, x * gains[:, None, None, None], rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_height_scale_rejects_a_bad_factor():
    with pytest.raises(ValueError, match="factor"):
        augment.RandomHeightScale(1.5)


def test_mix_samples_is_the_convex_combination_of_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5, 5, 1)).astype(np.float32)
    y = np.eye(3)[rng.integers(0, 3, 6)]
    lam = rng.uniform(0, 1, 6)
    perm = rng.permutation(6)
    xm, ym = mix_samples(x, y, lam, perm)
    for i in range(6):
        np.testing.assert_allclose(xm[i], lam[i] * x[i] + (1 - lam[i]) * x[perm[i]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ym[i], lam[i] * y[i] + (1 - lam[i]) * y[perm[i]])
    assert xm.dtype == np.float32
    np.testing.assert_allclose(ym.sum(axis=1), 1.0)


def test_mixup_labels_match_samples_and_is_reproducible():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = np.eye(4)[rng.integers(0, 4, 50)]
    xm, ym = mixup(x, y, alpha=0.4, seed=7)
    xm2, ym2 = mixup(x, y, alpha=0.4, seed=7)
    np.testing.assert_array_equal(xm, xm2)
    np.testing.assert_array_equal(ym, ym2)
    # the documented recipe
    r = np.random.default_rng(7)
    lam = r.beta(0.4, 0.4, size=50)
    perm = r.permutation(50)
    xe, ye = mix_samples(x, y, lam, perm)
    np.testing.assert_array_equal(xm, xe)
    np.testing.assert_array_equal(ym, ye)
    # labels mixed with the same weights as the samples: the label mass on y_i's class is >= lam
    assert np.all(ym[np.arange(50), y.argmax(1)] >= lam - 1e-12)


def test_mixup_validates_its_inputs():
    with pytest.raises(ValueError, match="one-hot"):
        mixup(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="same number"):
        mixup(np.zeros((3, 2)), np.eye(2))
    with pytest.raises(ValueError, match="alpha"):
        mixup(np.zeros((2, 2)), np.eye(2), alpha=0)
    with pytest.raises(ValueError, match="lam"):
        mix_samples(np.zeros((2, 2)), np.eye(2), np.array([0.5, 1.5]), np.array([1, 0]))
    with pytest.raises(ValueError, match="perm"):
        mix_samples(np.zeros((2, 2)), np.eye(2), np.array([0.5, 0.5]), np.array([1, 2]))


def test_d4_transforms_are_the_8_distinct_symmetries():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    outs = {t(x).tobytes() for t in D4_TRANSFORMS}
    assert len(outs) == 8
    for t in D4_TRANSFORMS:
        assert t(x).shape == x.shape


def test_sensor_transforms_keep_x_and_are_the_only_such_symmetries():
    """The sensor's shadows fall on +x: a transform the sensor can make keeps every column where it is (and its
    direction), and permutes rows only. Exactly two of the eight symmetries do: the identity and flipud."""
    x = np.random.default_rng(3).uniform(size=(2, 5, 5, 1))

    def keeps_x(t):
        out = t(x)
        return all(np.array_equal(np.sort(out[:, :, j], axis=1), np.sort(x[:, :, j], axis=1)) for j in range(5))

    assert [keeps_x(t) for t in SENSOR_TRANSFORMS] == [True, True]
    assert [t for t in D4_TRANSFORMS if keeps_x(t)] == list(SENSOR_TRANSFORMS)
    assert not np.array_equal(SENSOR_TRANSFORMS[1](x), x)


def test_aggregate_posteriors():
    P = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.3, 0.7], [0.4, 0.6]], [[0.6, 0.4], [0.0, 1.0]]])
    np.testing.assert_allclose(aggregate_posteriors(P), P.mean(axis=0))
    np.testing.assert_allclose(aggregate_posteriors(P, "max"), P.max(axis=0))
    np.testing.assert_allclose(aggregate_posteriors(P, "median"), np.median(P, axis=0))
    with pytest.raises(ValueError, match="aggregate"):
        aggregate_posteriors(P, "vote")
    with pytest.raises(ValueError, match=r"\(T, N, C\)"):
        aggregate_posteriors(P[0])


def test_tta_predict_averages_the_posteriors_of_each_transform():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 6, 6, 1))
    W = rng.normal(size=(36, 3))

    def model(b):                                   # a fixed, not rotation-invariant "classifier"
        z = b.reshape(len(b), -1) @ W
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    expected = np.mean([model(t(x)) for t in D4_TRANSFORMS], axis=0)
    np.testing.assert_allclose(tta_predict(model, x), expected)
    np.testing.assert_allclose(tta_predict(model, x, aggregate="max"),
                               np.max([model(t(x)) for t in D4_TRANSFORMS], axis=0))
    np.testing.assert_allclose(tta_predict(model, x, transforms=D4_TRANSFORMS[:1]), model(x))


def test_tta_predict_with_a_keras_model():
    import keras
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).uniform(size=(4, 6, 6, 1)).astype(np.float32)
    p = tta_predict(m, x)
    expected = np.mean([m.predict(np.ascontiguousarray(t(x)), verbose=0) for t in D4_TRANSFORMS], axis=0)
    np.testing.assert_allclose(p, expected, rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="batch"):
        tta_predict(m, x[..., 0])


def test_the_student_package_gives_no_answer_of_04():
    """What exercises 1, 6 and 7 ask the student to write is not in parcel_utils.augment."""
    for name in ("augmentation_layers", "mix_samples", "mixup", "tta_predict", "aggregate_posteriors"):
        assert not hasattr(augment, name), name
    assert set(augment.__all__) == {"RandomHeightScale", "AUGMENTATION_LAYER_TYPES", "SENSOR_TRANSFORMS",
                                    "D4_TRANSFORMS"}
