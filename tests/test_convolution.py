"""Unit tests of the reference answers of 01_convolution (parcel_course/assignments/01_convolution/reference.py).

Against SciPy, TensorFlow/Keras and hand-checked cases.
"""
import numpy as np
import pytest
import scipy.signal
import scipy.special

from parcel_course.assignments import load

cv = load("01_convolution", "reference")


def rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ hand-checkable cases
def test_shift_kernel_correlation_vs_convolution():
    image = np.arange(16.0).reshape(4, 4)
    shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    # correlation picks I(r, c+1), convolution (flipped filter) picks I(r, c-1)
    np.testing.assert_array_equal(cv.correlate2d(image, shift), [[6, 7], [10, 11]])
    np.testing.assert_array_equal(cv.convolve2d(image, shift), [[4, 5], [8, 9]])


def test_box_filter_same_full_and_stride():
    ones = np.ones((3, 3))
    np.testing.assert_array_equal(cv.correlate2d(ones, ones, "same"), [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    np.testing.assert_array_equal(cv.correlate2d(ones, ones, "symmetric"), np.full((3, 3), 9.0))
    full = cv.correlate2d(ones, ones, "full")
    assert full.shape == (5, 5) and full[0, 0] == 1 and full[2, 2] == 9
    image = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(cv.correlate2d(image, np.ones((2, 2)), stride=2), [[10, 18], [42, 50]])
    # a stride keeps every s-th output of the stride-1 result, starting with the first
    np.testing.assert_array_equal(cv.correlate2d(image, ones, "same", stride=(2, 3)),
                                  cv.correlate2d(image, ones, "same")[::2, ::3])


def test_padding_modes_by_hand():
    row = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(cv.pad_image(row, (1, 3), "valid"), row)
    np.testing.assert_array_equal(cv.pad_image(row, (1, 3), "same"), [[0, 1, 2, 3, 0]])
    np.testing.assert_array_equal(cv.pad_image(row, (1, 3), "full"), [[0, 0, 1, 2, 3, 0, 0]])
    np.testing.assert_array_equal(cv.pad_image(row, (1, 5), "symmetric"), [[2, 1, 1, 2, 3, 3, 2]])
    np.testing.assert_array_equal(cv.pad_image(row, (1, 5), "symmetric"), np.pad(row, ((0, 0), (2, 2)), "symmetric"))
    np.testing.assert_array_equal(cv.pad_image(row, 3, 1), [[0] * 5, [0, 1, 2, 3, 0], [0] * 5])
    assert cv.padding_widths(4, "same") == ((1, 2), (1, 2))
    assert cv.padding_widths(4, "same", flip=True) == ((2, 1), (2, 1))
    assert cv.padding_widths((3, 5), "full") == ((2, 2), (4, 4))
    # names are case-insensitive, as in Keras
    np.testing.assert_array_equal(cv.pad_image(row, (1, 5), "SYMMETRIC"), [[2, 1, 1, 2, 3, 3, 2]])
    np.testing.assert_array_equal(cv.correlate2d(np.ones((3, 3)), np.ones((3, 3)), "Same"),
                                  cv.correlate2d(np.ones((3, 3)), np.ones((3, 3)), "same"))
    # volumes: only the spatial axes are padded
    assert cv.pad_image(np.ones((4, 5, 3)), 3, "same").shape == (6, 7, 3)
    assert cv.pad_image(np.ones((2, 4, 5, 3)), 3, "full").shape == (2, 8, 9, 3)


def test_conv2d_lecture_formula_by_hand():
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)
    w = np.ones((3, 3, 2, 2))
    w[..., 1] = 0
    w[1, 1, 1, 1] = 1                       # second filter: the centre of channel 2
    a = cv.conv2d(x, w, biases=[0.5, -1.0])
    np.testing.assert_array_equal(a, [[[27.5, 1.0]]])


# ------------------------------------------------------------------ against SciPy
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
def test_correlate_convolve_match_scipy(seed, mode):
    r = rng(seed)
    H, W = r.integers(5, 20, size=2)
    kh, kw = r.integers(1, 6, size=2)          # odd and even sizes
    image, kernel = r.normal(size=(H, W)), r.normal(size=(kh, kw))
    np.testing.assert_allclose(cv.correlate2d(image, kernel, mode),
                               scipy.signal.correlate2d(image, kernel, mode), atol=1e-12)
    np.testing.assert_allclose(cv.convolve2d(image, kernel, mode),
                               scipy.signal.convolve2d(image, kernel, mode), atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_symmetric_padding_matches_scipy_symm(seed):
    r = rng(seed)
    H, W = r.integers(4, 15, size=2)
    kh, kw = r.integers(1, 6, size=2)
    image, kernel = r.normal(size=(H, W)), r.normal(size=(kh, kw))
    np.testing.assert_allclose(cv.correlate2d(image, kernel, "symmetric"),
                               scipy.signal.correlate2d(image, kernel, "same", boundary="symm"), atol=1e-12)
    np.testing.assert_allclose(cv.convolve2d(image, kernel, "symmetric"),
                               scipy.signal.convolve2d(image, kernel, "same", boundary="symm"), atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_stride_and_int_padding_match_scipy(seed):
    r = rng(seed)
    H, W = r.integers(6, 25, size=2)
    k = int(r.integers(1, 6))
    s = tuple(int(v) for v in r.integers(1, 4, size=2))
    p = int(r.integers(0, 4))
    image, kernel = r.normal(size=(H, W)), r.normal(size=(k, k))
    for mode in ["valid", "same", "full"]:
        ref = scipy.signal.correlate2d(image, kernel, mode)[::s[0], ::s[1]]
        np.testing.assert_allclose(cv.correlate2d(image, kernel, mode, stride=s), ref, atol=1e-12)
    padded = np.pad(image, p)
    np.testing.assert_allclose(cv.correlate2d(image, kernel, p, stride=s),
                               scipy.signal.correlate2d(padded, kernel, "valid")[::s[0], ::s[1]], atol=1e-12)


def test_convolution_is_correlation_with_flipped_filter():
    r = rng(1)
    image, kernel = r.normal(size=(9, 11)), r.normal(size=(3, 5))
    for mode in ["valid", "same", "full", "symmetric"]:
        np.testing.assert_allclose(cv.convolve2d(image, kernel, mode),
                                   cv.correlate2d(image, kernel[::-1, ::-1], mode), atol=1e-12)
    assert not np.allclose(cv.convolve2d(image, kernel), cv.correlate2d(image, kernel))


def test_conv2d_is_the_sum_over_channels_of_correlations():
    r = rng(2)
    x, w, b = r.normal(size=(10, 12, 3)), r.normal(size=(3, 3, 3, 4)), r.normal(size=4)
    for padding in ["valid", "same", "full", "symmetric", 2]:
        a = cv.conv2d(x, w, b, padding=padding, stride=2)
        for f in range(4):
            expected = sum(cv.correlate2d(x[..., k], w[..., k, f], padding, 2) for k in range(3)) + b[f]
            np.testing.assert_allclose(a[..., f], expected, atol=1e-12)
    batch = np.stack([x, 2 * x])
    np.testing.assert_allclose(cv.conv2d(batch, w, b)[1], cv.conv2d(2 * x, w, b), atol=1e-12)


# ------------------------------------------------------------------ against TensorFlow / Keras
@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_matches_tensorflow_no_flip(tf, seed):
    r = rng(seed)
    N, H, W, C, F = 2, int(r.integers(6, 16)), int(r.integers(6, 16)), int(r.integers(1, 4)), int(r.integers(1, 5))
    k = int(r.integers(1, 6))
    x = r.normal(size=(N, H, W, C)).astype(np.float32)
    w = r.normal(size=(k, k, C, F)).astype(np.float32)
    b = r.normal(size=F).astype(np.float32)
    for stride in (1, 2):
        got = cv.conv2d(x, w, b, "valid", stride)
        ref = tf.nn.conv2d(x, w, strides=stride, padding="VALID").numpy() + b
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        # explicit padding: our 'same' widths, with any stride
        (t, bo), (le, ri) = cv.padding_widths(k, "same")
        ref = tf.nn.conv2d(x, w, strides=stride, padding=[[0, 0], [t, bo], [le, ri], [0, 0]]).numpy() + b
        np.testing.assert_allclose(cv.conv2d(x, w, b, "same", stride), ref, rtol=1e-4, atol=1e-4)
    got = cv.conv2d(x, w, b, "same")
    np.testing.assert_allclose(got, tf.nn.conv2d(x, w, 1, "SAME").numpy() + b, rtol=1e-4, atol=1e-4)
    if k > 1:   # the flipped filter is something else
        flipped = cv.conv2d(x, w[::-1, ::-1], b, "same")
        assert not np.allclose(flipped, got, atol=1e-3)


def test_keras_conv2d_layer_is_correlation(tf):
    import keras
    r = rng(5)
    x = r.normal(size=(1, 12, 12, 1)).astype(np.float32)
    w = r.normal(size=(3, 3, 1, 1)).astype(np.float32)
    layer = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)
    layer.build(x.shape)
    layer.set_weights([w])
    out = keras.ops.convert_to_numpy(layer(x))[0, :, :, 0]
    np.testing.assert_allclose(out, cv.correlate2d(x[0, :, :, 0], w[:, :, 0, 0], "same"), rtol=1e-4, atol=1e-4)
    assert not np.allclose(out, cv.convolve2d(x[0, :, :, 0], w[:, :, 0, 0], "same"), atol=1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.conv(x, w, strides=2, padding="valid")),
                               cv.conv2d(x, w, stride=2), rtol=1e-4, atol=1e-4)


def test_tensorflow_same_with_stride_2_is_shifted_for_even_sizes(tf):
    # documented difference: TF pads fewer zeros before than after when the stride is > 1
    r = rng(6)
    x = r.normal(size=(1, 8, 9, 1)).astype(np.float32)
    w = r.normal(size=(3, 3, 1, 1)).astype(np.float32)
    out = tf.nn.conv2d(x, w, 2, "SAME").numpy()[0, :, :, 0]
    full = cv.correlate2d(x[0, :, :, 0], w[:, :, 0, 0], "same")
    assert out.shape == cv.correlate2d(x[0, :, :, 0], w[:, :, 0, 0], "same", 2).shape == (4, 5)
    np.testing.assert_allclose(out, full[1::2, ::2], rtol=1e-4, atol=1e-4)    # 8 rows: shifted; 9 cols: not


@pytest.mark.parametrize("pool, stride", [(2, None), (3, 1), (2, 1), ((2, 3), (3, 2)), (3, 2)])
def test_max_pool_matches_tensorflow(tf, pool, stride):
    x = rng(7).normal(size=(2, 11, 10, 3)).astype(np.float32)
    ref = tf.nn.max_pool2d(x, pool, pool if stride is None else stride, "VALID").numpy()
    np.testing.assert_array_equal(cv.max_pool2d(x, pool, stride), ref)
    np.testing.assert_array_equal(cv.max_pool2d(x[0], pool, stride), ref[0])
    np.testing.assert_array_equal(cv.max_pool2d(x[0, ..., 1], pool, stride), ref[0, ..., 1])


def test_parameter_counts_match_keras(tf):
    import keras
    for k, d, nf in [(5, 3, 2), (5, 1, 6), (5, 6, 16), (3, 3, 64), (7, 4, 5), ((3, 5), 2, 3)]:
        layer = keras.layers.Conv2D(nf, k)
        layer.build((None, 16, 16, d))
        assert cv.conv_parameters(k, d, nf) == layer.count_params()
        layer = keras.layers.Conv2D(nf, k, use_bias=False)
        layer.build((None, 16, 16, d))
        assert cv.conv_parameters(k, d, nf, use_bias=False) == layer.count_params()


def test_leaky_relu_matches_keras(tf):
    import keras
    x = rng(8).normal(size=100).astype(np.float32)
    np.testing.assert_allclose(cv.leaky_relu(x, 0.01),
                               keras.ops.convert_to_numpy(keras.ops.leaky_relu(x, negative_slope=0.01)), rtol=1e-6)
    np.testing.assert_allclose(cv.sigmoid(x), keras.ops.convert_to_numpy(keras.ops.sigmoid(x)), rtol=1e-6)


# ------------------------------------------------------------------ sizes, receptive field, counts
def test_output_size_lecture_numbers():
    assert cv.output_size(32, 5) == 28              # LeNet-5
    assert cv.output_size(14, 5) == 10
    assert cv.output_size(227, 11, "valid", 4) == 55  # AlexNet
    assert cv.output_size(224, 3, "same") == 224    # VGG16
    assert cv.output_size(224, 2, "valid", 2) == 112  # 2x2 max pooling
    assert cv.output_size(5, 3, "full") == 7
    assert cv.output_size(7, 3, 1, 2) == 4          # (7 + 2 - 3) // 2 + 1


@pytest.mark.parametrize("seed", range(5))
def test_output_size_matches_the_actual_shapes(seed):
    r = rng(seed)
    for _ in range(20):
        n, k, s = int(r.integers(3, 20)), int(r.integers(1, 6)), int(r.integers(1, 4))
        padding = [*cv.PADDINGS, int(r.integers(0, 3))][int(r.integers(0, 5))]
        if padding == "valid" and k > n:
            continue
        out = cv.correlate2d(np.zeros((n, n + 1)), np.ones((k, k)), padding, s)
        assert out.shape == (cv.output_size(n, k, padding, s), cv.output_size(n + 1, k, padding, s))
        if padding in ("same", "symmetric"):
            assert out.shape[0] == -(-n // s)


def _support_of_first_output(n_layers, k, strides, n=40):
    """Input pixels that change output (0, 0) of a stack of 'valid' correlations (impulse responses)."""
    kernel = np.ones((k, k))
    seen = []
    for i in range(n):
        y = np.zeros((n, n))
        y[i, :] = 1                      # light up input row i; count the rows output (0, 0) sees
        for s in strides:
            y = cv.correlate2d(y, kernel, "valid", s)
        seen.append(y[0, 0] != 0)
    return int(np.sum(seen))


@pytest.mark.parametrize("L, k, strides", [(1, 3, [1]), (2, 3, [1, 1]), (3, 3, [1, 1, 1]), (2, 5, [1, 1]),
                                           (3, 3, [2, 1, 1]), (2, 3, [2, 2]), (1, 7, [1])])
def test_receptive_field_matches_impulse_responses(L, k, strides):
    assert cv.receptive_field(L, k, strides) == _support_of_first_output(L, k, strides)
    if set(strides) == {1}:
        assert cv.receptive_field(L, k) == 1 + L * (k - 1)


def test_vgg_argument_numbers():
    assert cv.receptive_field(3, 3) == cv.receptive_field(1, 7) == 7
    assert cv.stack_parameters(3, 3, 1, use_bias=False) == 27
    assert cv.stack_parameters(1, 7, 1, use_bias=False) == 49
    for d in (1, 3, 64, 512):
        assert cv.stack_parameters(3, 3, d, use_bias=False) == 27 * d * d
        assert cv.stack_parameters(3, 3, d) == 27 * d * d + 3 * d
        assert cv.stack_parameters(1, 7, d) == 49 * d * d + d
    assert cv.conv_parameters(5, 3, 2) == 152
    assert cv.conv_parameters(3, 512, 512) == 2359808       # VGG16 block5_conv1


# ------------------------------------------------------------------ activations and pooling
def test_activations():
    x = np.linspace(-6, 6, 101)
    np.testing.assert_array_equal(cv.relu(x), np.where(x > 0, x, 0))
    np.testing.assert_allclose(cv.leaky_relu(x), np.where(x >= 0, x, 0.01 * x))
    np.testing.assert_allclose(cv.leaky_relu(x, 0.3), np.where(x >= 0, x, 0.3 * x))
    np.testing.assert_allclose(cv.sigmoid(x), scipy.special.expit(x), rtol=1e-12)
    np.testing.assert_allclose(cv.tanh(x), 2 / (1 + np.exp(-2 * x)) - 1, atol=1e-12)
    # tanh(x) = 2 sigma(2x) - 1 with the standard logistic; the lecture's S(x) is sigma(2x)
    np.testing.assert_allclose(cv.tanh(x), 2 * cv.sigmoid(2 * x) - 1, atol=1e-12)
    np.testing.assert_allclose(1 / (1 + np.exp(-2 * x)), cv.sigmoid(2 * x), rtol=1e-12)
    with np.errstate(over="raise"):
        np.testing.assert_array_equal(cv.sigmoid([-1000.0, 1000.0]), [0.0, 1.0])
    assert cv.relu(np.float32([1, -1])).dtype == np.float32
    assert cv.sigmoid(np.float32([1, -1])).dtype == np.float32
    assert float(cv.sigmoid(0)) == 0.5


def test_max_pool_by_hand():
    x = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(cv.max_pool2d(x), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(cv.max_pool2d(x, 3, 1), [[10, 11], [14, 15]])
    np.testing.assert_array_equal(cv.max_pool2d(x, 2, 1), x[1:, 1:])
    assert cv.max_pool2d(np.zeros((224, 224, 64))).shape == (112, 112, 64)
    assert cv.max_pool2d(np.zeros((7, 9)), 2).shape == (3, 4)


def test_dtypes():
    img32 = np.ones((5, 5), np.float32)
    assert cv.correlate2d(img32, np.ones((3, 3), np.float32)).dtype == np.float32
    assert cv.correlate2d(np.ones((5, 5), int), np.ones((3, 3), int)).dtype == np.float64
    assert cv.conv2d(np.ones((5, 5, 2), np.float32), np.ones((3, 3, 2, 1), np.float32)).dtype == np.float32


def test_speed_is_vectorised():
    import time
    r = rng(9)
    image, kernel = r.normal(size=(512, 512)), r.normal(size=(7, 7))
    t = time.perf_counter()
    cv.correlate2d(image, kernel, "same")
    x, w = r.normal(size=(4, 64, 64, 8)).astype(np.float32), r.normal(size=(3, 3, 8, 16)).astype(np.float32)
    cv.conv2d(x, w, padding="same")
    # a Python loop over pixels takes tens of seconds here; generous bound for a busy machine
    assert time.perf_counter() - t < 5


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, match", [
    (lambda: cv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), "reflect"), "`padding` should be one of"),
    (lambda: cv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), -1), "`padding` should be one of"),
    (lambda: cv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), stride=0), "`stride` should be at least 1"),
    (lambda: cv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), stride=1.5), "`stride` should be an int"),
    (lambda: cv.correlate2d(np.ones((5, 5, 3)), np.ones((3, 3))), "use conv2d"),
    (lambda: cv.correlate2d(np.ones((5, 5)), np.ones(3)), "`kernel` should be a 2-D array"),
    (lambda: cv.correlate2d(np.ones((2, 5)), np.ones((3, 3))), "larger than the image"),
    (lambda: cv.correlate2d([["a", "b"]], np.ones((1, 1))), "array of numbers"),
    (lambda: cv.correlate2d(np.ones((0, 4)), np.ones((1, 1))), "empty"),
    (lambda: cv.conv2d(np.ones((5, 5, 2)), np.ones((3, 3, 3, 4))), "as many channels as the input"),
    (lambda: cv.conv2d(np.ones((5, 5, 2)), np.ones((3, 3, 2, 4)), biases=np.ones(3)), "one value per filter"),
    (lambda: cv.conv2d(np.ones((5, 5)), np.ones((3, 3, 1, 1))), "channels last"),
    (lambda: cv.conv2d(np.ones((5, 5, 1)), np.ones((3, 3))), "Keras Conv2D layout"),
    (lambda: cv.output_size(4, 5), "larger than the input"),
    (lambda: cv.output_size(0, 3), "`n` should be at least 1"),
    (lambda: cv.output_size(10, 3, stride=0), "`stride` should be at least 1"),
    (lambda: cv.receptive_field(3, [3, 3]), "one value per layer"),
    (lambda: cv.receptive_field(-1), "`n_layers` should be at least 0"),
    (lambda: cv.conv_parameters(3, 0, 4), "`in_channels` should be at least 1"),
    (lambda: cv.max_pool2d(np.ones((3, 3)), 4), "pooling window is larger"),
    (lambda: cv.max_pool2d(np.ones((4, 4)), 2, 0), "`stride` should be at least 1"),
    (lambda: cv.leaky_relu([1.0], alpha="x"), "`alpha` should be a finite number"),
    (lambda: cv.sigmoid("abc"), "array of real numbers"),
    (lambda: cv.padding_widths(0, "same"), "`kernel_size` should be at least 1"),
])
def test_bad_input_gets_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
