"""01_convolution / cnn_building_blocks: parameters, receptive field, the VGG argument, activations, pooling.

Built into cnn_building_blocks.ipynb by `make source`; the cell grammar is in CONTRIBUTING.md.
"""
# %% readonly id=colab_setup include=colab_setup

# %% [markdown]
# # 01 · CNN building blocks
#
# A CNN is a stack of blocks: convolutional layers, nonlinearities
# (activation functions) and pooling layers. `convolution.ipynb` built the
# convolutional layer; this notebook measures what the blocks cost and what
# they see, which is the reasoning behind every architecture in the lecture:
# how many parameters a layer has, how far one output sees into the input
# (its receptive field), why VGG stacks 3x3 layers instead of using large
# filters, what the activations do, and how max pooling shrinks the volume.
#
# | exercise | what | points |
# |---|---|---|
# | 1 | `conv_parameters` | 1 |
# | 2 | `receptive_field` | 1 |
# | 3 | `vgg_comparison`: three 3x3 layers against one 7x7 | 2 |
# | 4 | activations: `relu`, `leaky_relu`, `sigmoid`, `tanh_from_sigmoid` | 3 |
# | 5 | `max_pool2d` | 2 |
# | | **total** | **9** |
#
# As before: fill in the cells that `raise NotImplementedError()`, run the
# test below each, and do not call SciPy or Keras for what an exercise asks
# you to write. The hidden tests run the same checks as the visible ones on
# other, random inputs (larger counts, 3-D volumes, other strides), so a
# function that passes the visible tests and has no bug those inputs expose
# gets full marks. The exercises are independent of each other (exercise 3 may
# use your functions of exercises 1 and 2, and then needs them;
# `tanh_from_sigmoid` of exercise 4 needs your `sigmoid`). The figures use
# SciPy's `scipy.signal.correlate2d` (your `correlate2d` of `convolution.ipynb`
# computes the same), and, after an exercise, your own functions; a figure whose
# exercise is unfinished says so instead of failing. Warnings your code prints
# (on stderr) cost no points: a test cell scores zero only when it raises an
# error. You still see them while you work.

# %%
import numpy as np
import matplotlib.pyplot as plt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal                        # SciPy's 2D correlation and convolution, for the figures

from parcel_utils.checks import check_close, check_equal, check_shape, check_type
from parcel_utils.viz import plot_activations, plot_image_row

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## What a convolutional layer costs
#
# A layer with $n_f$ filters of size $h_x \times h_y$ on an input of depth
# $d$ has, per filter, $h_x h_y d$ weights and one bias, so
#
# $$(h_x \cdot h_y \cdot d) \cdot n_f + n_f$$
#
# parameters, whatever the image size: the same filter is used across the
# whole image. The lecture's example: 3 input maps, 2 filters 5x5, gives
# $5\cdot5\cdot3\cdot2 = 150$ weights $+\,2$ biases $= 152$. The same layer
# type costs more deeper in the network, where $d$ is larger: LeNet-5's first
# layer (6 filters 5x5 on a grey image) has 156 parameters, its second
# (16 filters 5x5 on 6 maps) 2416.
#
# ## Exercise 1 (1 point): `conv_parameters`
#
# Write `conv_parameters(kernel_size, in_channels, filters, use_bias=True)`
# returning the int count; `kernel_size` is an int $k$ (a $k \times k$
# filter) or a pair `(kh, kw)`. The tests call it with `use_bias` as a keyword,
# with kernels up to 7 and up to 512 channels and filters.

# %% solution id=conv_parameters
def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    """Trainable parameters of a Conv2D layer: (kh * kw * d) * n_f + n_f."""
    ### BEGIN SOLUTION
    if isinstance(kernel_size, int):
        kh = kw = kernel_size
    else:
        kh, kw = kernel_size
    weights = kh * kw * in_channels * filters
    return weights + filters if use_bias else weights
    ### END SOLUTION

# %% tests id=test_conv_parameters points=1
check_equal(conv_parameters(5, 3, 2), 152, name="conv_parameters(5, 3, 2)  (the lecture's example)")
check_equal(conv_parameters(5, 1, 6), 156, name="conv_parameters(5, 1, 6)  (LeNet-5, conv 1)")
check_equal(conv_parameters(5, 6, 16), 2416, name="conv_parameters(5, 6, 16)  (LeNet-5, conv 2)")
check_equal(conv_parameters(3, 3, 64), 1792, name="conv_parameters(3, 3, 64)  (VGG16 block1_conv1)")
check_equal(conv_parameters((3, 5), 2, 4, use_bias=False), 120, name="conv_parameters((3, 5), 2, 4, use_bias=False)")
check_equal(conv_parameters((3, 5), 2, 4), 124, name="conv_parameters((3, 5), 2, 4)")
check_equal(conv_parameters(1, 512, 512, use_bias=False), 262144, name="conv_parameters(1, 512, 512, use_bias=False)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("conv_parameters", conv_parameters)
### END HIDDEN TESTS

# %% [markdown]
# ## What one output sees: the receptive field
#
# An output of a 3x3 layer depends on a 3x3 patch of its input. Stack a
# second 3x3 layer on it: each of its outputs combines 3x3 outputs of the
# first, each of which saw 3x3 inputs, shifted by one: 5x5 inputs in all.
# Every further $k \times k$ layer (stride 1) adds $k-1$. The picture: one
# bright pixel pushed through one, two and three 3x3 mean filters; the
# outputs it reaches are exactly those whose receptive field contains it.

# %%
impulse = np.zeros((11, 11))
impulse[5, 5] = 1.0
stages, x = [impulse], impulse
for _ in range(3):
    x = signal.correlate2d(x, np.ones((3, 3)) / 9, "same")
    stages.append(x)
plot_image_row(stages, ["one pixel", "after one 3x3", "after two", "after three"],
               cmap="magma", colorbar=False, size=2.8);
print("side of the region reached:", [int(np.any(s > 0, axis=0).sum()) for s in stages])

# %% [markdown]
# ## Exercise 2 (1 point): `receptive_field`
#
# Write `receptive_field(n_layers, kernel_size=3)`: the side of the input
# region seen by one output of `n_layers` stacked `kernel_size` x
# `kernel_size` convolutions with stride 1 (no pooling). Zero layers see one
# pixel.

# %% solution id=receptive_field
def receptive_field(n_layers, kernel_size=3):
    """Side of the receptive field of n_layers stacked k x k, stride-1 convolutions."""
    ### BEGIN SOLUTION
    return 1 + n_layers * (kernel_size - 1)
    ### END SOLUTION

# %% tests id=test_receptive_field points=1
check_equal(receptive_field(1), 3, name="receptive_field(1)")
check_equal(receptive_field(3), 7, name="receptive_field(3)  (VGG: three 3x3 layers)")
check_equal(receptive_field(1, 7), 7, name="receptive_field(1, 7)")
check_equal(receptive_field(0), 1, name="receptive_field(0)")
check_equal(receptive_field(2, 5), 9, name="receptive_field(2, 5)")
check_equal(receptive_field(4, 1), 1, name="receptive_field(4, 1)  (1x1 filters see one pixel)")
check_equal(receptive_field(11, 11), 111, name="receptive_field(11, 11)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("receptive_field", receptive_field)
### END HIDDEN TESTS

# %% [markdown]
# ## Three 3x3 layers or one 7x7? The VGG argument
#
# VGG16 uses only 3x3 filters and goes deep instead. The lecture's table:
#
# | | 3 layers 3x3 | 1 layer 7x7 |
# |---|---|---|
# | receptive field | 7x7 | 7x7 |
# | nr of parameters | 3 x 3 x 3 = 27 | 49 |
# | nr of nonlinearities | 3 | 1 |
#
# The 27 and the 49 count one input and one output channel, $d = 1$, and
# no biases: three layers of $3\cdot3$ weights against $7\cdot7$. A real layer
# maps $d$ channels to $d$ channels, and each of its $d$ filters spans all $d$
# input channels, so without biases the stack has $3\cdot(3\cdot3\cdot d\cdot d)
# = 27d^2$ weights and the single layer $7\cdot7\cdot d\cdot d = 49d^2$: the
# same ratio, $27/49 \approx 55\%$, at every depth. Biases add $3d$ against
# $d$, negligible once $d$ is in the tens. And the stack puts a nonlinearity
# after each layer: three instead of one, a more expressive function for
# fewer parameters.
#
# ## Exercise 3 (2 points): `vgg_comparison`
#
# Write `vgg_comparison(d, use_bias=False)` returning the table for $d$
# input and output channels, as a dict of pairs *(three 3x3 layers, one 7x7
# layer)* of ints:
#
# ```python
# {"receptive field": (7, 7), "parameters": (..., ...), "nonlinearities": (3, 1)}
# ```
#
# with biases counted when `use_bias` is true (one per filter, as Keras does).
# The values may be ints or tuples/lists of two ints; the tests call it as
# `vgg_comparison(d, use_bias=...)`, for $d$ from 1 to 512. You may build on
# your `conv_parameters` and `receptive_field` (then this exercise needs
# exercises 1 and 2) or count directly (then it needs nothing).

# %% solution id=vgg_comparison
def vgg_comparison(d, use_bias=False):
    """The lecture's table for d input and output channels: (three 3x3 layers, one 7x7 layer)."""
    ### BEGIN SOLUTION
    bias = d if use_bias else 0
    stack = 3 * (3 * 3 * d * d + bias)
    single = 7 * 7 * d * d + bias
    return {"receptive field": (1 + 3 * 2, 7), "parameters": (stack, single), "nonlinearities": (3, 1)}
    ### END SOLUTION

# %% tests id=test_vgg_comparison points=2
table = vgg_comparison(1)
check_type(table, dict, name="vgg_comparison(1)")
check_equal(tuple(table["receptive field"]), (7, 7), name="vgg_comparison(1)['receptive field']")
check_equal(tuple(table["parameters"]), (27, 49), name="vgg_comparison(1)['parameters']  (the slide)")
check_equal(tuple(table["nonlinearities"]), (3, 1), name="vgg_comparison(1)['nonlinearities']")
check_equal(tuple(vgg_comparison(2)["parameters"]), (108, 196), name="vgg_comparison(2)['parameters']")
check_equal(tuple(vgg_comparison(1, use_bias=True)["parameters"]), (30, 50),
            name="vgg_comparison(1, use_bias=True)['parameters']  (3 biases against 1)")
table = vgg_comparison(3, use_bias=True)
check_equal(tuple(table["parameters"]), (252, 444), name="vgg_comparison(3, use_bias=True)['parameters']")
check_equal(tuple(table["receptive field"]) + tuple(table["nonlinearities"]), (7, 7, 3, 1),
            name="vgg_comparison(3, use_bias=True): receptive fields and nonlinearities")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
# the table as one list: the parameters, the receptive fields, the nonlinearities
attest("vgg_comparison", lambda d, use_bias: [v for k in ("parameters", "receptive field", "nonlinearities")
                                             for v in vgg_comparison(d, use_bias=use_bias)[k]])
### END HIDDEN TESTS

# %% [markdown]
# At VGG16's depths (its 3x3 layers map 64 to 512 channels), biases
# included ($d = 1$ gives 30 and 50: the slide's 27 and 49 plus 3 and 1
# biases), by your `vgg_comparison`:

# %% tags=nbval-check-output
try:
    print(f"{'d':>4} {'3 x (3x3)':>12} {'1 x (7x7)':>12} {'ratio':>6}")
    for d in (1, 64, 128, 256, 512):
        stack, single = vgg_comparison(d, use_bias=True)["parameters"]
        print(f"{d:>4} {stack:>12,} {single:>12,} {stack / single:>6.3f}")
except (NotImplementedError, NameError):
    print("(this table needs your vgg_comparison of exercise 3)")

# %% [markdown]
# **Why the nonlinearities matter.** Without them the stack would buy
# nothing but fewer parameters: three correlations in a row are one
# correlation, with a 7x7 filter equal to the (full) convolution of the three
# 3x3 filters. With a ReLU between the layers the stack is no longer linear,
# so no 7x7 filter reproduces it. (SciPy's `signal.correlate2d` and
# `signal.convolve2d` do the filtering, `np.maximum(x, 0)` is the ReLU of
# exercise 4.)

# %% tags=nbval-check-output
rng = np.random.default_rng(3)
scene = rng.normal(size=(20, 20))
w1, w2, w3 = rng.normal(size=(3, 3, 3))
combined = signal.convolve2d(signal.convolve2d(w1, w2, "full"), w3, "full")       # 7x7
linear_stack = signal.correlate2d(signal.correlate2d(signal.correlate2d(scene, w1, "valid"), w2, "valid"), w3, "valid")
print("combined filter:", combined.shape)
print("three 3x3 layers == one 7x7 layer:", np.allclose(linear_stack, signal.correlate2d(scene, combined, "valid")))


def relu_stack(image):
    x = image
    for w in (w1, w2, w3):
        x = np.maximum(signal.correlate2d(x, w, "valid"), 0.0)
    return x


other = rng.normal(size=(20, 20))
print("with ReLUs, stack(a + b) == stack(a) + stack(b):",
      np.allclose(relu_stack(scene + other), relu_stack(scene) + relu_stack(other)))

# %% [markdown]
# ## Activations
#
# Activations act on each value of the volume separately and do not change
# its size. The lecture's:
#
# * ReLU $T(x) = \max(0, x)$; the most popular since AlexNet, but a neuron
#   whose input stays negative gets no gradient ("dying" ReLU);
# * leaky ReLU: $x$ for $x \ge 0$, $0.01\,x$ below (Keras' `LeakyReLU` defaults
#   to a slope of 0.3);
# * tanh $T(x) = \dfrac{2}{1+e^{-2x}} - 1$, range $(-1, 1)$;
# * sigmoid, written on the slide as $S(x) = \dfrac{1}{1+e^{-2x}}$, range $(0,1)$.
#
# **Careful with that last formula.** The standard sigmoid (the logistic
# function, Keras' `activation="sigmoid"`) is
#
# $$\sigma(x) = \frac{1}{1+e^{-x}} ,$$
#
# and the slide's $S(x)$ is $\sigma(2x)$: the same S-shape, twice as steep
# (slope $1/2$ at 0 instead of $1/4$). Use the standard $\sigma$. With it,
# the tanh on the slide reads $\tanh(x) = 2\sigma(2x) - 1$: tanh is a sigmoid
# stretched to $(-1, 1)$.
#
# ## Exercise 4 (3 points): activations
#
# Write, for NumPy arrays of any shape (element-wise, returning arrays of the
# same shape):
#
# * `relu(x)` and `leaky_relu(x, alpha=0.01)`;
# * `sigmoid(x)`, the standard logistic $\sigma$. It must give `0.0` and
#   `1.0`, not NaN, for `x = -1000` and `1000`; computing $e^{-x}$ for
#   $x < 0$ overflows, so use $e^{x}/(1+e^{x})$ there (`np.where` and
#   $e^{-|x|}$ do both cases at once);
# * `tanh_from_sigmoid(x)`: $2\sigma(2x) - 1$, computed with **your**
#   `sigmoid`. The test checks it against `np.tanh` (that verifies the
#   identity), and then calls it with `sigmoid` swapped for another S-shaped
#   function $s$: it must give $2s(2x) - 1$, which shows that it goes through
#   `sigmoid` (so it **needs your sigmoid**).
#
# Points: 1 for `relu` and `leaky_relu` together (`test_relu`; the tests call
# `leaky_relu(x, 0.2)` with `alpha` by position as well as by name), 1 for
# `sigmoid` (`test_sigmoid`, to a relative tolerance of $10^{-7}$: compute in
# float64), 1 for `tanh_from_sigmoid` (`test_tanh_identity`). The tests use
# 1-D arrays and 3-D volumes.

# %% solution id=activations
def relu(x):
    """max(0, x), element-wise."""
    ### BEGIN SOLUTION
    return np.maximum(np.asarray(x, dtype=float), 0.0)
    ### END SOLUTION


def leaky_relu(x, alpha=0.01):
    """x where x >= 0, alpha * x below."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, x, alpha * x)
    ### END SOLUTION


def sigmoid(x):
    """The standard logistic function 1 / (1 + exp(-x)), without overflow."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION


def tanh_from_sigmoid(x):
    """tanh(x) computed as 2 * sigmoid(2x) - 1."""
    ### BEGIN SOLUTION
    return 2.0 * sigmoid(2.0 * np.asarray(x, dtype=float)) - 1.0
    ### END SOLUTION

# %% tests id=test_relu points=1
check_close(relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0], name="relu([-2, 0, 3])")
check_close(leaky_relu(np.array([-2.0, 0.0, 3.0])), [-0.02, 0.0, 3.0], name="leaky_relu([-2, 0, 3])")
check_close(leaky_relu(np.array([-2.0, 3.0]), alpha=0.3), [-0.6, 3.0], name="leaky_relu([-2, 3], alpha=0.3)")
check_shape(relu(np.zeros((2, 3, 4))), (2, 3, 4), name="relu of a (2, 3, 4) volume")
volume = np.array([[[-1.5, 2.0], [0.0, -0.25]], [[3.0, -4.0], [-0.5, 1.0]]])       # 2x2x2
check_close(relu(volume), [[[0.0, 2.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 1.0]]], name="relu(volume)")
check_close(leaky_relu(volume), [[[-0.015, 2.0], [0.0, -0.0025]], [[3.0, -0.04], [-0.005, 1.0]]],
            name="leaky_relu(volume)")
check_close(leaky_relu(volume, 0.2), [[[-0.3, 2.0], [0.0, -0.05]], [[3.0, -0.8], [-0.1, 1.0]]],
            name="leaky_relu(volume, 0.2)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("relu", relu)
attest("leaky_relu", leaky_relu)
attest("leaky_relu_alpha", leaky_relu)
### END HIDDEN TESTS

# %% tests id=test_sigmoid points=1
check_close(sigmoid(np.array([0.0, 2.0, -2.0])), [0.5, 0.880797077978, 0.119202922022], rtol=1e-7, atol=1e-10,
            name="sigmoid([0, 2, -2])")
check_close(sigmoid(np.array([[-30.0, -5.0, 0.5], [1.0, 10.0, 35.0]])),
            [[9.3576e-14, 0.00669285092428, 0.622459331202], [0.731058578630, 0.999954602131, 1.0]],
            rtol=1e-7, atol=1e-10, name="sigmoid([[-30, -5, 0.5], [1, 10, 35]])")
with np.errstate(all="ignore"):
    extremes = sigmoid(np.array([-1000.0, 1000.0]))
check_close(extremes, [0.0, 1.0], name="sigmoid([-1000, 1000])")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("sigmoid", sigmoid)
### END HIDDEN TESTS

# %% tests id=test_tanh_identity points=1
points = np.linspace(-3, 3, 13)
check_close(tanh_from_sigmoid(points), np.tanh(points), name="tanh_from_sigmoid(x) against np.tanh(x)")
check_shape(tanh_from_sigmoid(np.zeros((3, 5, 2))), (3, 5, 2), name="tanh_from_sigmoid of a (3, 5, 2) volume")
# through your sigmoid: with sigmoid swapped (for this call only) for s(z) = 1/2 + z / (2 (1 + |z|)),
# tanh_from_sigmoid must give 2 s(2x) - 1 = 2x / (1 + 2|x|)
from parcel_utils.attest import swapped_global
check_close(swapped_global(tanh_from_sigmoid, "sigmoid", lambda z: 0.5 + z / (2 * (1 + np.abs(z))),
                           np.array([-1.5, 0.0, 0.5, 1.0])), [-0.75, 0.0, 0.5, 2 / 3],
            name="tanh_from_sigmoid([-1.5, 0, 0.5, 1]) with sigmoid swapped for 1/2 + z / (2 (1 + |z|))")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest, swapped_global
attest("tanh_from_sigmoid", tanh_from_sigmoid)
# through your sigmoid: with sigmoid swapped for another S-shaped function (1/2 + arctan(z) / pi, symmetric
# about 1/2 as the logistic is), tanh_from_sigmoid must follow it: 2 s(2x) - 1
attest("tanh_through_sigmoid",
       lambda _x: swapped_global(tanh_from_sigmoid, "sigmoid", lambda _z: 0.5 + np.arctan(_z) / np.pi, _x))
### END HIDDEN TESTS

# %% [markdown]
# Check the two claims yourself (these use your functions):

# %%
xs = np.linspace(-5, 5, 1001)
lecture_S = 1.0 / (1.0 + np.exp(-2.0 * xs))
try:
    print("max |tanh(x) - (2 sigmoid(2x) - 1)|:", float(np.max(np.abs(np.tanh(xs) - tanh_from_sigmoid(xs)))))
    print("max |S(x) - sigmoid(2x)|:           ", float(np.max(np.abs(lecture_S - sigmoid(2 * xs)))))
    print("max |S(x) - sigmoid(x)|:            ", round(float(np.max(np.abs(lecture_S - sigmoid(xs)))), 3))
except (NotImplementedError, NameError):
    print("(write the activations of exercise 4 first)")

# %%
# your activations of exercise 4 (NumPy's np.tanh for tanh)
try:
    plot_activations({"ReLU": relu, "leaky ReLU (slope 0.1 to show it)": lambda x: leaky_relu(x, 0.1),
                      "tanh": np.tanh,
                      "sigmoid σ(x)": sigmoid, "~slide's S(x) = σ(2x)": lambda x: sigmoid(2 * x)},
                     ylim=(-1.3, 2.5));
except (NotImplementedError, NameError):
    plt.close("all")
    print("(this figure needs your activations of exercise 4)")

# %% [markdown]
# ## Max pooling
#
# A pooling layer shrinks each channel of the volume separately, here with
# the maximum over `pool_size` x `pool_size` windows. The stride is usually
# the pool size (Keras' default): 2x2 pooling with stride 2 halves each side
# and keeps 25% of the values (224x224x64 becomes 112x112x64). A stride of 1
# keeps the size, minus the border, and takes the maximum around every pixel.
# The output has $\lfloor (n - p)/s \rfloor + 1$ samples per axis (no padding,
# as Keras' default 'valid').
#
# ## Exercise 5 (2 points): `max_pool2d`
#
# Write `max_pool2d(x, pool_size=2, stride=None)`: `x` of shape `(H, W, C)`,
# `pool_size` and `stride` ints, `stride=None` meaning `stride = pool_size`;
# returns `(H', W', C)`, each channel pooled separately. The tests pass both
# by position (`max_pool2d(x, 3, 2)`, `max_pool2d(x, 2, None)`), with pools of
# 1 to 4, strides equal to, below and above the pool size, and float32 volumes.
# `sliding_window_view(x, (p, p), axis=(0, 1))` has shape `(H-p+1, W-p+1, C, p, p)`.

# %% solution id=max_pool2d
def max_pool2d(x, pool_size=2, stride=None):
    """Max over pool_size x pool_size windows, every stride-th, each channel separately; x is (H, W, C)."""
    ### BEGIN SOLUTION
    if stride is None:
        stride = pool_size
    windows = sliding_window_view(np.asarray(x), (pool_size, pool_size), axis=(0, 1))
    return windows[::stride, ::stride].max(axis=(-2, -1))
    ### END SOLUTION

# %% tests id=test_max_pool2d points=2
grid = np.arange(16.0).reshape(4, 4, 1)
check_close(max_pool2d(grid)[..., 0], [[5.0, 7.0], [13.0, 15.0]], name="max_pool2d(grid)")
check_close(max_pool2d(grid, 3, 1)[..., 0], [[10.0, 11.0], [14.0, 15.0]], name="max_pool2d(grid, 3, 1)")
check_shape(max_pool2d(np.zeros((224, 224, 64))), (112, 112, 64), name="max_pool2d of a 224x224x64 volume")
check_shape(max_pool2d(np.zeros((7, 9, 2)), 2), (3, 4, 2), name="max_pool2d of a 7x9x2 volume")
two = np.concatenate([grid, -grid], axis=-1)           # 4x4, 2 channels: each is pooled on its own
check_close(max_pool2d(two, 2), [[[5.0, 0.0], [7.0, -2.0]], [[13.0, -8.0], [15.0, -10.0]]], name="max_pool2d(two, 2)")
grid57 = np.arange(35.0, dtype=np.float32).reshape(5, 7, 1)
check_close(max_pool2d(grid57, 3, 2)[..., 0], [[16.0, 18.0, 20.0], [30.0, 32.0, 34.0]],
            name="max_pool2d(grid57, 3, 2)  (overlapping windows, as AlexNet's)")
check_close(max_pool2d(grid57, 2, 3)[..., 0], [[8.0, 11.0], [29.0, 32.0]], name="max_pool2d(grid57, 2, 3)")
check_close(max_pool2d(grid57, 1, None), grid57, name="max_pool2d(grid57, 1, None)")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("max_pool2d", max_pool2d)
### END HIDDEN TESTS

# %% [markdown]
# ## One block, start to end
#
# A conv layer, a ReLU and a 2x2 max pooling on a parcel scene: heights
# above the belt (in cm, so that the numbers stay small), eight random 3x3
# filters, as a freshly initialised network would have. The conv layer is
# SciPy's correlation, filter by filter (one input channel: the `conv_layer`
# of `convolution.ipynb`); the ReLU, the pooling and the parameter count are
# yours, exercises 1, 4 and 5. The volume goes from
# 1@64x96 to 8@64x96 to 8@32x48, the lecture's notation for "8 channels of
# 32x48", and keeps the layout of the scene at every step.

# %%
def synthetic_height_map(height=64, width=96, seed=0):
    """Height above the belt in cm: a 12 cm box and a lying cylinder (radius 7 cm), 0.5 cm pixels."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:height, 0:width]
    h = np.zeros((height, width))
    h[(r >= 14) & (r < 44) & (c >= 10) & (c < 40)] = 12.0
    x_cm = 0.5 * (c - 68)
    on_cylinder = (np.abs(x_cm) < 7.0) & (r >= 8) & (r < 56)
    h[on_cylinder] = 7.0 + np.sqrt(49.0 - x_cm[on_cylinder] ** 2)
    return (h + rng.normal(0.0, 0.2, size=h.shape)).astype(np.float32)


# %% tags=nbval-check-output
heights = synthetic_height_map()[..., None]                          # (64, 96, 1)
block_rng = np.random.default_rng(7)
weights = block_rng.normal(scale=0.3, size=(3, 3, 1, 8))
biases = np.zeros(8)
a = np.stack([signal.correlate2d(heights[..., 0], weights[:, :, 0, f], "same") for f in range(8)], axis=-1) + biases
try:
    z = relu(a)
    pooled = max_pool2d(z, 2)
    for name, v in [("input", heights), ("conv 3x3, 8 filters", a), ("ReLU", z), ("max pool 2x2", pooled)]:
        print(f"{name:>20}: {v.shape[2]}@{v.shape[0]}x{v.shape[1]}")
    print("parameters of the conv layer:", conv_parameters(3, 1, 8))
except (NotImplementedError, NameError):
    pooled = None
    print("(this block needs your relu, max_pool2d and conv_parameters: exercises 4, 5 and 1)")

# %%
if pooled is not None:
    plot_image_row([heights[..., 0]] + [pooled[..., f] for f in range(4)],
                   ["heights (cm)"] + [f"channel {f}, pooled" for f in range(4)], cmap="viridis", size=3.0);
