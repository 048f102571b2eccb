"""01_convolution / convolution: correlation, convolution, padding, stride, channels.

Built into convolution.ipynb by `make source`; the cell grammar is in CONTRIBUTING.md.
"""
# %% readonly id=colab_setup include=colab_setup

# %% [markdown]
# # 01 · Convolution, by hand
#
# A depth sensor above a conveyor belt sees parcels as a map of distances.
# Before a CNN can tell a box from a cylinder it filters that map with many
# small filters, and the filters are what it learns. Keras does the filtering
# in one line, `Conv2D(...)`; in this notebook you write it yourself in NumPy,
# so that nothing in that line is a mystery afterwards: what is computed at
# each pixel, what happens at the border (padding), how the output shrinks
# (stride, output size), and how several input channels and several filters
# combine into one layer, the lecture's
# $a(r,c,f) = \sum_{(u,v)\in U,\,k} w^f(u,v,k)\,x(r+u,c+v,k) + b^f$.
#
# The companion notebook `cnn_building_blocks.ipynb` goes on with receptive
# fields, parameter counts, activations and pooling.
#
# | exercise | what | points |
# |---|---|---|
# | 1 | `correlate2d` with padding and stride | 5 |
# | 2 | `convolve2d`: the flip (needs exercise 1) | 2 |
# | 3 | `output_size` | 2 |
# | 4 | `conv_layer`: channels, filters, biases | 3 |
# | | **total** | **12** |
#
# **How to work.** Fill in every cell that says `raise NotImplementedError()`,
# then run the test cell below it: it prints what is wrong, or nothing. The
# grader runs the same checks (hidden) on other, random inputs of the kinds the
# visible tests use (every padding, strides above 1, odd and even kernels,
# rectangular images), so make your functions general, not just right on the
# visible examples: a function that passes the visible tests and has no bug
# the random inputs expose gets full marks. The figures before
# exercise 1 use SciPy's `scipy.signal.correlate2d`; do not call it (or
# `scipy.ndimage`) where an exercise asks you to write the operation yourself.
# Exercise 2 needs your `correlate2d` of exercise 1; exercises 1, 3 and 4 are
# independent of each other, and a figure that uses an unfinished exercise says
# so instead of failing. Warnings your code prints (on stderr) cost no points: a
# test cell scores zero only when it raises an error. You still see them while
# you work.

# %%
import numpy as np
import matplotlib.pyplot as plt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal                        # SciPy's correlation, for the figures before exercise 1

from parcel_utils.checks import check_close, check_equal, check_shape
from parcel_utils.viz import plot_filter_response, plot_image_row, plot_padding_modes

np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## A depth map to filter
#
# We make a small synthetic scene (the course's parcel generator makes more
# realistic ones): a belt 1000 mm from the sensor, a box 120 mm tall and a
# cylinder lying on the belt, one pixel = 5 mm, and 2 mm of sensor noise.
# Near things are bright.

# %%
def synthetic_depth_map(height=64, width=96, seed=0):
    """Distance from the sensor in mm: a belt, a box and a lying cylinder, float32 (height, width)."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:height, 0:width]
    depth = np.full((height, width), 1000.0)
    depth[(r >= 14) & (r < 44) & (c >= 10) & (c < 40)] = 1000.0 - 120.0        # the box
    radius = 70.0                                                                # mm
    x_mm = 5.0 * (c - 68)                                                        # across the cylinder
    on_cylinder = (np.abs(x_mm) < radius) & (r >= 8) & (r < 56)
    depth[on_cylinder] = 1000.0 - (radius + np.sqrt(radius**2 - x_mm[on_cylinder] ** 2))
    depth += rng.normal(0.0, 2.0, size=depth.shape)
    return depth.astype(np.float32)


depth = synthetic_depth_map()
plot_image_row([depth], ["depth map (mm)"], cmap="viridis_r", size=5);

# %% [markdown]
# ## Correlation: a filter applied at every pixel
#
# A local linear filter replaces every pixel by a weighted sum of its
# neighbours. With the weights $w(u,v)$ on a neighbourhood
# $U = \{-1,0,1\}^2$ (a 3x3 filter), the lecture's **2D correlation** is
#
# $$(I \otimes w)(r,c) = \sum_{(u,v)\in U} w(u,v)\, I(r+u,\, c+v).$$
#
# In array terms: the filter's centre, row `(kh-1)//2` and column `(kw-1)//2`,
# is the origin $(0,0)$; slide the filter over the image, multiply sample by
# sample, add up. Below, a horizontal-derivative filter (Sobel) finds the
# left and right edges of both parcels (compare the sign on the two sides),
# and a 5x5 average smooths the sensor noise away. (SciPy computes these:
# `signal.correlate2d(image, kernel, mode)`, with `boundary="symm"` for the
# 'symmetric' padding below; in exercise 1 you write the same operation.)

# %%
sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8.0
plot_filter_response(depth, sobel, signal.correlate2d(depth, sobel, "same", boundary="symm"),
                     titles=("depth (mm)", "Sobel d/dc", "correlation: mm per pixel"), cmap="viridis_r",
                     response_cmap="RdBu_r");
mean5 = np.ones((5, 5)) / 25
plot_filter_response(depth[20:40, 45:90], mean5, signal.correlate2d(depth[20:40, 45:90], mean5, "valid"),
                     titles=("a noisy detail", "5x5 mean", "smoothed ('valid': smaller)"), cmap="viridis_r");

# %% [markdown]
# ## Padding: what happens at the border
#
# Near the border part of the filter falls outside the image. The lecture's
# options:
#
# * **'valid'**, no padding: compute only where the filter fits; the output
#   is smaller, $n-k+1$ samples per axis.
# * **'same'**, half padding: add $k-1$ zeros per axis, `(k-1)//2` before
#   and `k//2` after (for odd $k$, $(k-1)/2$ on each side), so that the
#   output keeps the input size. Zero padding is the most frequent option.
# * **'full'**: add $k-1$ zeros on each side; every position where filter and
#   image overlap at all; $n+k-1$ samples.
# * **'symmetric'**: as 'same', but fill the border by mirroring the image
#   about its edge, *edge sample repeated*: `[a b c]` padded by two becomes
#   `[b a | a b c | c b]`. That is `np.pad(..., mode="symmetric")` (NumPy's
#   `mode="reflect"` would give `[c b | a b c | b a]`, without the repeat).
#
# The red frame is the original 4x4 image, padded for a 3x3 filter:

# %%
toy = np.arange(1, 17, dtype=float).reshape(4, 4)
plot_padding_modes(toy, 3);

# %% [markdown]
# Zero padding is not innocent on a depth map: zero means "1000 mm nearer
# than the belt", so the derivative sees a huge fake edge all around the
# border, which dwarfs the parcels. Mirroring the border does not invent an
# edge:

# %%
plot_image_row([signal.correlate2d(depth, sobel, "same"), signal.correlate2d(depth, sobel, "same", boundary="symm")],
               ["Sobel, 'same' (zeros)", "Sobel, 'symmetric'"], cmap="RdBu_r", size=4.5);

# %% [markdown]
# **Stride.** A stride $s$ applies the filter only at every $s$-th position,
# starting with the first: the stride-1 output with only rows and columns
# $0, s, 2s, \dots$ kept. It shrinks the output by a factor $s$ without
# computing what is thrown away.
#
# ## Exercise 1 (5 points): `correlate2d`
#
# Write `correlate2d(image, kernel, padding="valid", stride=1)`:
#
# * `image`: array `(H, W)`; `kernel`: array `(kh, kw)`, any sizes, odd or even;
# * `padding`: `"valid"`, `"same"`, `"full"` or `"symmetric"`, padded as
#   described above (zeros for the first three, `np.pad` mode `"symmetric"` for
#   the last);
# * `stride`: an int $s \ge 1$;
# * returns a float array, the correlation at the positions $0, s, 2s, \dots$
#   of the padded image.
#
# Hints: `np.pad(x, ((top, bottom), (left, right)), mode=...)`, then either
# `sliding_window_view(padded, (kh, kw))` (shape `(H', W', kh, kw)`: every
# window) with `np.einsum`, or a loop over the $k_h k_w$ filter offsets, each
# adding a shifted copy of the image: both are fast. A double loop over the
# pixels also passes the tests, but is a hundred times slower on a real image.
#
# Points: 2 for 'valid' (test `test_correlate2d_valid`), 2 for the other
# paddings (`test_correlate2d_padding`), 1 for the stride
# (`test_correlate2d_stride`, which uses every padding). The tests pass NumPy
# arrays (floats) and compare your values with a tolerance: float or int
# results both pass.

# %% solution id=correlate2d
def correlate2d(image, kernel, padding="valid", stride=1):
    """2D correlation (I ⊗ w)(r, c) = Σ w(u, v) I(r + u, c + v), with padding and stride."""
    ### BEGIN SOLUTION
    x = np.asarray(image, dtype=float)
    w = np.asarray(kernel, dtype=float)
    kh, kw = w.shape
    if padding == "valid":
        widths = ((0, 0), (0, 0))
    elif padding == "full":
        widths = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    elif padding in ("same", "symmetric"):
        widths = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    else:
        raise ValueError(f"padding should be 'valid', 'same', 'full' or 'symmetric', got {padding!r}")
    padded = np.pad(x, widths, mode="symmetric" if padding == "symmetric" else "constant")
    windows = sliding_window_view(padded, (kh, kw))[::stride, ::stride]
    return np.einsum("ijuv,uv->ij", windows, w)
    ### END SOLUTION

# %% tests id=test_correlate2d_valid points=2
image = np.arange(16.0).reshape(4, 4)
shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])        # w(0, 1) = 1: picks I(r, c+1)
# [[4, 5], [8, 9]] instead means the filter was flipped: that is convolution, exercise 2
check_close(correlate2d(image, shift), [[6.0, 7.0], [10.0, 11.0]], name="correlate2d(image, shift)")
check_close(correlate2d(image, np.ones((2, 3))), [[18.0, 24.0], [42.0, 48.0], [66.0, 72.0]],
            name="correlate2d(image, np.ones((2, 3)))")
# a rectangular 3x5 image; an even kernel that is not symmetric; a 1x3 kernel; a kernel as large as the image
rect = np.arange(15.0).reshape(3, 5)
check_close(correlate2d(rect, np.array([[1.0, 2.0], [3.0, 4.0]])), [[41.0, 51, 61, 71], [91, 101, 111, 121]],
            name="correlate2d(rect, [[1, 2], [3, 4]])")
check_close(correlate2d(rect, np.array([[1.0, 0.0, -1.0]])), np.full((3, 3), -2.0), name="correlate2d(rect, [[1, 0, -1]])")
check_close(correlate2d(image, np.ones((4, 4))), [[120.0]], name="correlate2d(image, np.ones((4, 4)))")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("correlate2d_valid", correlate2d)
### END HIDDEN TESTS

# %% tests id=test_correlate2d_padding points=2
image = np.arange(16.0).reshape(4, 4)
shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])        # picks I(r, c+1)
ones = np.ones((3, 3))
check_close(correlate2d(ones, ones, "same"), [[4.0, 6, 4], [6, 9, 6], [4, 6, 4]], name="correlate2d(ones, ones, 'same')")
check_close(correlate2d(ones, ones, "symmetric"), np.full((3, 3), 9.0), name="correlate2d(ones, ones, 'symmetric')")
check_shape(correlate2d(ones, ones, "full"), (5, 5), name="correlate2d(ones, ones, 'full')")
check_close(correlate2d(ones, ones, "full")[0], [1.0, 2, 3, 2, 1], name="the first row of correlate2d(ones, ones, 'full')")
# at the last column I(r, c+1) is padding: a zero with 'same', the edge sample repeated with 'symmetric'
# (2, 6, 10, 14 there would be NumPy's mode="reflect", which does not repeat it)
check_close(correlate2d(image, shift, "same")[:, 3], [0.0, 0, 0, 0], name="correlate2d(image, shift, 'same')[:, 3]")
check_close(correlate2d(image, shift, "symmetric"), [[1.0, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15]],
            name="correlate2d(image, shift, 'symmetric')")
# an even kernel: 'same' pads (k-1)//2 = 0 before and k//2 = 1 after
check_close(correlate2d(image, np.ones((1, 2)), "same")[0], [1.0, 3, 5, 3], name="correlate2d(image, np.ones((1, 2)), 'same')[0]")
k22 = np.array([[1.0, 2.0], [3.0, 4.0]])
check_close(correlate2d(image, k22, "symmetric"),
            [[34.0, 44, 54, 58], [74, 84, 94, 98], [114, 124, 134, 138], [126, 136, 146, 150]],
            name="correlate2d(image, [[1, 2], [3, 4]], 'symmetric')")
check_close(correlate2d(np.array([[1.0, 2.0, 3.0]]), k22, "full"), [[4.0, 11, 18, 9], [2, 5, 8, 3]],
            name="correlate2d([[1, 2, 3]], [[1, 2], [3, 4]], 'full')")
# a kernel wider than the image: 1x6 on 4 columns pads 2 before and 3 after
k16 = np.arange(1.0, 7.0).reshape(1, 6)
check_close(correlate2d(image, k16, "same")[0], [32.0, 26, 20, 14], name="correlate2d(image, [[1, ..., 6]], 'same')[0]")
check_close(correlate2d(image, k16, "symmetric")[0], [33.0, 44, 47, 42],
            name="correlate2d(image, [[1, ..., 6]], 'symmetric')[0]")
check_close(correlate2d(image, k16, "full")[0], [0.0, 6, 17, 32, 26, 20, 14, 8, 3],
            name="correlate2d(image, [[1, ..., 6]], 'full')[0]")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("correlate2d_padding", correlate2d)
### END HIDDEN TESTS

# %% tests id=test_correlate2d_stride points=1
image = np.arange(16.0).reshape(4, 4)
check_close(correlate2d(image, np.ones((2, 2)), stride=2), [[10.0, 18.0], [42.0, 50.0]],
            name="correlate2d(image, np.ones((2, 2)), stride=2)")
check_close(correlate2d(image, np.ones((3, 3)), "same", stride=2), [[10.0, 24.0], [51.0, 90.0]],
            name="correlate2d(image, np.ones((3, 3)), 'same', stride=2)")
# strides that do not divide the size: the positions 0, s, 2s, ... that fit, with every padding
image57 = np.arange(35.0).reshape(5, 7)
check_close(correlate2d(image57, np.array([[2.0]]), stride=3), [[0.0, 6, 12], [42, 48, 54]],
            name="correlate2d(image57, [[2]], stride=3)")
check_close(correlate2d(image57, np.array([[1.0, 2.0], [3.0, 4.0]]), "full", stride=3), [[0.0, 18, 39], [112, 215, 245]],
            name="correlate2d(image57, [[1, 2], [3, 4]], 'full', stride=3)")
check_close(correlate2d(image57, np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]), "symmetric", stride=2),
            [[1.0, 3, 5, 6], [15, 17, 19, 20], [29, 31, 33, 34]], name="correlate2d(image57, shift, 'symmetric', stride=2)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("correlate2d_stride", correlate2d)
### END HIDDEN TESTS

# %% [markdown]
# ## Convolution: the flip
#
# The **2D convolution** of signal processing runs the filter backwards:
#
# $$(I \circledast w)(r,c) = \sum_{(u,v)\in U} w(u,v)\, I(r-u,\, c-v),$$
#
# which is a correlation with the filter flipped upside down and left to
# right, `w[::-1, ::-1]`. The flip is what makes the convolution theorem
# (and associativity: filtering twice is filtering once with the convolution
# of the two filters) work, so it matters when you design filters or filter
# in the Fourier domain. A CNN *learns* its filters; it only has to use them
# consistently, and in practice, **in CNN arithmetic there is no flip**:
# Keras' `Conv2D` computes a correlation (we check that in exercise 4).
#
# ## Exercise 2 (2 points): `convolve2d`
#
# Write `convolve2d(image, kernel, padding="valid", stride=1)`, same
# arguments and output shape as `correlate2d`. The point is the flip, so
# build on your `correlate2d` from exercise 1 (this exercise **needs exercise
# 1**: its test fails while `correlate2d` does).
#
# Odd kernels are enough here: for an even size the origin of the flipped
# filter moves by one sample, so 'same' and 'symmetric' would have to pad the
# other way round (`k//2` before); the hidden tests use odd kernels with those
# two paddings, any kernel with 'valid' and 'full'.

# %% solution id=convolve2d
def convolve2d(image, kernel, padding="valid", stride=1):
    """2D convolution (I ⊛ w)(r, c) = Σ w(u, v) I(r - u, c - v), with padding and stride."""
    ### BEGIN SOLUTION
    flipped = np.asarray(kernel, dtype=float)[::-1, ::-1]
    return correlate2d(image, flipped, padding=padding, stride=stride)
    ### END SOLUTION

# %% tests id=test_convolve2d points=2
image = np.arange(16.0).reshape(4, 4)
shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])        # correlated, picks I(r, c+1); convolved, I(r, c-1)
check_close(convolve2d(image, shift), [[4.0, 5.0], [8.0, 9.0]], name="convolve2d(image, shift)")
impulse = np.zeros((3, 3))
impulse[1, 1] = 1.0
small = np.array([[1.0, 2.0], [3.0, 4.0]])
# an impulse convolved with a filter gives the filter back; correlated, it gives the filter flipped
check_close(convolve2d(impulse, small, "full")[1:3, 1:3], small, name="convolve2d(impulse, small, 'full')[1:3, 1:3]")
check_close(convolve2d(image, np.ones((3, 3)), "same", stride=2), [[10.0, 24.0], [51.0, 90.0]],
            name="convolve2d(image, np.ones((3, 3)), 'same', stride=2), a symmetric filter: the correlation")
# odd kernels with 'same' and 'symmetric': the border on the left is padding
check_close(convolve2d(image, shift, "same"), [[0.0, 0, 1, 2], [0, 4, 5, 6], [0, 8, 9, 10], [0, 12, 13, 14]],
            name="convolve2d(image, shift, 'same')")
check_close(convolve2d(image, shift, "symmetric"), [[0.0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10], [12, 12, 13, 14]],
            name="convolve2d(image, shift, 'symmetric')")
rect = np.arange(15.0).reshape(3, 5)
check_close(convolve2d(rect, small), [[19.0, 29, 39, 49], [69, 79, 89, 99]], name="convolve2d(rect, [[1, 2], [3, 4]])")
check_close(convolve2d(rect, np.array([[1.0, 2.0, 3.0]]), "symmetric", 2), [[1.0, 10, 21], [61, 70, 81]],
            name="convolve2d(rect, [[1, 2, 3]], 'symmetric', 2)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("convolve2d", convolve2d)
### END HIDDEN TESTS

# %% [markdown]
# ## The output size
#
# Along one axis, an input of $n$ samples padded with $p$ zeros on each side
# and a filter of size $k$ applied with stride $s$ give
#
# $$n_{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1 .$$
#
# 'valid' is $p=0$, 'full' is $p=k-1$; 'same' and 'symmetric' add $k-1$ in
# all (split unevenly when $k$ is even), which gives $n$ at stride 1 and
# $\lceil n/s \rceil$ in general.
#
# (Keras' `padding="same"` with a stride above 1 gives the same number of
# outputs but pads only what that number needs, the extra zero at the end: on
# an even-sized input its outputs sit one pixel further than ours. The
# `Conv2D` help in the lecture warns that "same" is slightly inconsistent
# across backends with strides != 1.)
#
# ## Exercise 3 (2 points): `output_size`
#
# Write `output_size(n, k, padding="valid", stride=1)` returning the int
# $n_{out}$; `padding` is one of the four names, or an int $p \ge 0$ meaning
# $p$ zeros on each side. Check yourself on the lecture's numbers: LeNet-5's
# first layer (32x32 input, 5x5 filters, 'valid') gives 28x28; AlexNet's
# (227x227, 11x11, stride 4) gives 55x55; VGG16 keeps 224x224 with 'same'.
# Return an `int` (a float such as `28.0` passes too); the hidden test tries
# sizes 1 to 59, kernels 1 to 7, strides 1 to 4 and every padding.

# %% solution id=output_size
def output_size(n, k, padding="valid", stride=1):
    """Number of outputs along one axis: floor((n + total padding - k) / stride) + 1."""
    ### BEGIN SOLUTION
    if padding == "valid":
        total = 0
    elif padding == "full":
        total = 2 * (k - 1)
    elif padding in ("same", "symmetric"):
        total = k - 1
    else:
        total = 2 * int(padding)
    return (n + total - k) // stride + 1
    ### END SOLUTION

# %% tests id=test_output_size points=2
check_equal(output_size(32, 5), 28, name="output_size(32, 5)  (LeNet-5)")
check_equal(output_size(227, 11, "valid", 4), 55, name="output_size(227, 11, 'valid', 4)  (AlexNet)")
check_equal(output_size(224, 3, "same"), 224, name="output_size(224, 3, 'same')  (VGG16)")
check_equal(output_size(5, 3, "full"), 7, name="output_size(5, 3, 'full')")
check_equal(output_size(7, 3, 1, 2), 4, name="output_size(7, 3, 1, 2)")
check_equal(output_size(224, 3, "same", 2), 112, name="output_size(224, 3, 'same', 2)")
check_equal(output_size(7, 3, "symmetric", 3), 3, name="output_size(7, 3, 'symmetric', 3)")
check_equal(output_size(9, 4, "same", 2), 5, name="output_size(9, 4, 'same', 2)  (an even kernel, an odd size)")
check_equal(output_size(10, 4, "full", 3), 5, name="output_size(10, 4, 'full', 3)")
check_equal(output_size(6, 2, 0, 1), 5, name="output_size(6, 2, 0, 1)")
check_equal(output_size(1, 1), 1, name="output_size(1, 1)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("output_size", output_size)
### END HIDDEN TESTS

# %% [markdown]
# The lecture's padding animations use a 5x5 input and a 3x3 filter; here are
# their output sizes, and those of the parcel map (64x96) with a 5x5 filter,
# by your `output_size`:

# %% tags=nbval-check-output
try:
    print(f"{'padding':>10} {'stride':>6}   5x5 in, 3x3 filter   64x96 in, 5x5 filter")
    for padding in ("valid", "same", "full", "symmetric"):
        for s in (1, 2):
            small_out = output_size(5, 3, padding, s)
            depth_out = (output_size(64, 5, padding, s), output_size(96, 5, padding, s))
            print(f"{padding:>10} {s:>6}   {small_out}x{small_out:<17} {depth_out[0]}x{depth_out[1]}")
except (NotImplementedError, NameError):
    print("(this table needs your output_size of exercise 3)")

# %% [markdown]
# ## Several channels, several filters: a convolutional layer
#
# A CNN layer takes a volume $x$ of shape $(H, W, C)$ (channels last, as in
# Keras). Each of its $F$ filters $w^f$ has shape $(k_h, k_w, C)$: it spans a
# small neighbourhood in space but **all** the input channels, and it has one
# bias $b^f$. Filter $f$ gives output channel $f$:
#
# $$a(r,c,f) = \sum_{(u,v)\in U,\;k} w^f(u,v,k)\, x(r+u,\,c+v,\,k) + b^f .$$
#
# Keras stores the filters of a `Conv2D` layer as one array `weights` of shape
# `(kh, kw, C, F)`, `weights[..., k, f]` being channel $k$ of filter $f$, and
# the biases as `(F,)`.
#
# ## Exercise 4 (3 points): `conv_layer`
#
# Write `conv_layer(x, weights, biases, padding="valid", stride=1)`: `x` of
# shape `(H, W, C)`, `weights` `(kh, kw, C, F)`, `biases` `(F,)`; padding and
# stride as in exercise 1 (stride an int); returns `(H', W', F)` with $H'$,
# $W'$ given by the output-size formula. No flip, no activation. The tests
# pass NumPy arrays (the hidden ones float32, as Keras' weights are), with
# every padding, odd and even kernels, strides 1 and 2, and compare with a
# tolerance of 1e-4. This exercise does not need exercise 1: pad and slide as
# there, on three axes (you may call your `correlate2d` channel by channel,
# but then it needs exercise 1).
#
# Pad as in exercise 1: `np.pad(x, ((top, bottom), (left, right), (0, 0)), mode=...)`
# pads the two spatial axes of an `(H, W, C)` volume and leaves the channels
# alone. Vectorise:
# `sliding_window_view(padded, (kh, kw), axis=(0, 1))` has shape
# `(H', W', C, kh, kw)`, and one `np.einsum` or `np.tensordot` then does every
# filter at every pixel.

# %% solution id=conv_layer
def conv_layer(x, weights, biases, padding="valid", stride=1):
    """a(r, c, f) = Σ_{u, v, k} w^f(u, v, k) x(r + u, c + v, k) + b^f, for x (H, W, C) and weights (kh, kw, C, F)."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    w = np.asarray(weights, dtype=float)
    kh, kw = w.shape[:2]
    if padding == "valid":
        rows, cols = (0, 0), (0, 0)
    elif padding == "full":
        rows, cols = (kh - 1, kh - 1), (kw - 1, kw - 1)
    elif padding in ("same", "symmetric"):
        rows, cols = ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)
    else:
        raise ValueError(f"padding should be 'valid', 'same', 'full' or 'symmetric', got {padding!r}")
    padded = np.pad(x, (rows, cols, (0, 0)), mode="symmetric" if padding == "symmetric" else "constant")
    windows = sliding_window_view(padded, (kh, kw), axis=(0, 1))[::stride, ::stride]
    return np.einsum("ijkuv,uvkf->ijf", windows, w, optimize=True) + np.asarray(biases, dtype=float)
    ### END SOLUTION

# %% tests id=test_conv_layer points=3
x2 = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)     # 3x3, 2 channels: all 1s, all 2s
w2 = np.zeros((3, 3, 2, 2))
w2[..., 0] = 1.0                      # filter 0: sums everything, 9 * 1 + 9 * 2 = 27
w2[1, 1, 1, 1] = 1.0                  # filter 1: the centre of channel 1, which is 2
check_close(conv_layer(x2, w2, np.array([0.5, -1.0])), [[[27.5, 1.0]]], name="conv_layer(x2, w2, [0.5, -1.0])")
# two even 2x2x2 filters on a 3x4x2 volume, with each padding and a stride
x3 = np.arange(24.0).reshape(3, 4, 2)
w3 = np.arange(16.0).reshape(2, 2, 2, 2) - 7.5
check_close(conv_layer(x3, w3, np.array([1.0, -1.0]), "same", 2),
            [[[127.0, 169.0], [111.0, 185.0]], [[-304.0, -236.0], [-376.0, -292.0]]],
            name="conv_layer(x3, w3, [1, -1], 'same', 2)")
check_close(conv_layer(x3, w3, np.zeros(2), "symmetric")[..., 1],
            [[170.0, 178, 186, 174], [202, 210, 218, 206], [90, 98, 106, 94]],
            name="conv_layer(x3, w3, [0, 0], 'symmetric')[..., 1]")
check_close(conv_layer(x3[..., :1], np.ones((2, 2, 1, 1)), np.zeros(1), "full")[..., 0],
            [[0.0, 2, 6, 10, 6], [8, 20, 28, 36, 20], [24, 52, 60, 68, 36], [16, 34, 38, 42, 22]],
            name="conv_layer(x3[..., :1], np.ones((2, 2, 1, 1)), [0], 'full')[..., 0]")
# float32 arrays, as Keras stores them ('valid', stride 1)
check_close(conv_layer(x3.astype(np.float32), w3.astype(np.float32), np.array([1.0, -1.0], np.float32)),
            [[[127.0, 169.0], [119.0, 177.0], [111.0, 185.0]], [[95.0, 201.0], [87.0, 209.0], [79.0, 217.0]]],
            rtol=1e-4, atol=1e-4, name="conv_layer(x3, w3, [1, -1]) on float32 arrays")
check_shape(conv_layer(np.zeros((8, 10, 3)), np.zeros((3, 3, 3, 4)), np.zeros(4), "same"), (8, 10, 4),
            name="conv_layer of an 8x10x3 volume with four 3x3x3 filters, 'same'")
check_shape(conv_layer(np.zeros((8, 10, 3)), np.zeros((3, 3, 3, 4)), np.zeros(4), "valid", 2), (3, 4, 4),
            name="conv_layer of an 8x10x3 volume with four 3x3x3 filters, 'valid', stride 2")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("conv_layer", conv_layer)
### END HIDDEN TESTS

# %% [markdown]
# ## Keras calls it convolution; it is a correlation
#
# Put the same random filters into a Keras `Conv2D` layer and compare its
# output with your `conv_layer` of exercise 4, a correlation, and with a true
# convolution (your `conv_layer` with every filter flipped). (Importing
# TensorFlow takes a few seconds.)

# %%
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras

# %% tags=nbval-check-output
rng = np.random.default_rng(0)
volume = rng.normal(size=(1, 12, 12, 3)).astype(np.float32)        # a batch of one 12x12x3 volume
filters = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
layer = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
layer.build(volume.shape)
layer.set_weights([filters])
keras_out = keras.ops.convert_to_numpy(layer(volume))[0]
try:
    as_correlation = conv_layer(volume[0], filters, np.zeros(4), padding="same")
    as_convolution = conv_layer(volume[0], filters[::-1, ::-1], np.zeros(4), padding="same")
    print("Keras Conv2D == correlation:          ", np.allclose(keras_out, as_correlation, atol=1e-4))
    print("Keras Conv2D == convolution (flipped):", np.allclose(keras_out, as_convolution, atol=1e-4))
except (NotImplementedError, NameError):
    print("(this comparison needs your conv_layer of exercise 4)")

# %% [markdown]
# ## A bank of filters on the depth map
#
# A first CNN layer on a depth map is a bank of such filters, learnt instead
# of designed. Four designed ones, stacked into one `(3, 3, 1, 4)` weight
# array and applied with your `conv_layer`, 'symmetric' padding: a mean,
# the two derivatives, and a Laplacian (which lights up where the surface
# bends: the outlines of both parcels).

# %%
bank = np.stack([np.ones((3, 3)) / 9, sobel, sobel.T,
                 np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)], axis=-1)[:, :, None, :]
try:
    maps = conv_layer(depth[..., None], bank, np.zeros(4), padding="symmetric")
except (NotImplementedError, NameError):
    print("(this figure needs your conv_layer of exercise 4)")
else:
    print("input", depth[..., None].shape, "-> weights", bank.shape, "-> output", maps.shape)
    plot_image_row([maps[..., f] for f in range(4)], ["mean", "d/dc", "d/dr", "Laplacian"],
                   cmap=["viridis_r", "RdBu_r", "RdBu_r", "RdBu_r"], size=3.6);
