"""Assignment 02_parameters: counting parameters by hand and against Keras.

Built into parameters.ipynb by `make source`; the cell grammar is in CONTRIBUTING.md.
Every number comes from ../shared/lectures/cnn-lecture-notes.txt.
"""

# %% readonly id=colab_setup include=colab_setup

# %% [markdown]
# # 02 · Counting parameters: by hand, then by Keras
#
# How big is a network? The number of its parameters decides how much memory its
# weights take, how easily it overfits a small training set and, with the size of its
# activations, how much it costs to run. The lecture gives many such numbers:
# 152 parameters for 2 filters 5x5 on 3 input maps, 61,706 for LeNet-5, 138,357,544 for
# VGG16, "about 100MB per image" of activations. In this assignment you derive every
# one of them with a few lines of arithmetic, and check each against what Keras counts.
# Where the two disagree, one of them is wrong, and we say which.
#
# Notation of the lecture: a filter is $h_x \times h_y$ (here `h`, `w`), `d` is the depth
# of the input activation, `n_f` the number of filters.
#
# | exercise | what you write | points |
# | --- | --- | --- |
# | 1 | `conv2d_params` (2), `dense_params` (1) | 3 |
# | 2 | `output_shapes` of a conv / pool / flatten / dense stack | 3 |
# | 3 | `build_lenet5()` in Keras: structure (2), other inputs and classes (2) | 4 |
# | 4 | `mlp_params_gray`, `mlp_params_rgb`, `lenet_params_rgb` (needs exercise 1) | 2 |
# | 5 | `dense_share`: where VGG16's parameters are | 2 |
# | 6 | MobileNet: `depthwise_separable_params` (1), `conv2d_mult_adds` and `depthwise_separable_mult_adds` (2), `separable_cost_ratio` (1) | 4 |
# | 7 | `activation_count`: VGG16's activation memory | 3 |
# | | **total** | **21** |
#
# Run the cells in order. Each exercise has a visible test you can run; when your
# notebook is graded, hidden tests run the same checks on other inputs of the same
# kinds (other sizes, strides, paddings, input shapes, models), so a function that
# passes the visible tests and has no bug those inputs expose gets full marks. Only
# exercise 4 needs another one (exercise 1); the others are independent, and a
# figure or table whose exercise is unfinished says so instead of failing. Explore
# in cells and variables of your own: the tests use only your functions and the
# values the exercises name. Nothing here downloads anything: every Keras model is
# built with `weights=None`. Warnings your code prints (on stderr) cost no points: a
# test cell scores zero only when it raises an error. You still see them while you
# work.

# %%
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras
from keras import layers

from parcel_utils import checks, keras_tools

keras.utils.set_random_seed(0)

# %% [markdown]
# ## 1. Parameters of a Conv2D and of a Dense layer
#
# A Conv2D layer has `n_f` filters, each as deep as its input ($h \times w \times d$
# weights), and one bias per filter:
#
# $$(h \cdot w \cdot d) \cdot n_f + n_f .$$
#
# The lecture's example: 3 input maps and 2 filters 5x5 give $5 \cdot 5 \cdot 3 \cdot 2 = 150$
# weights + 2 biases = **152**. A Dense layer with `n_in` inputs and `n_out` neurons has
# one weight per (input, neuron) pair and one bias per neuron: $n_{in} \cdot n_{out} + n_{out}$.
#
# **Exercise 1 (3 points).** Write
#
# * `conv2d_params(h, w, d, n_filters, bias=True)` returning the number of parameters
#   (an `int`) of a Conv2D layer with `n_filters` filters of size `h x w` on an input of
#   depth `d`; with `bias=False` the biases are left out;
# * `dense_params(n_in, n_out, bias=True)` returning that of a Dense layer.
#
# 2 points for `conv2d_params` (`test_conv2d_params`: sizes up to 19, with `bias` given
# by keyword, and against Keras), 1 for `dense_params` (`test_dense_params`: sizes up to
# 5,000).

# %% solution id=conv2d_params
def conv2d_params(h, w, d, n_filters, bias=True):
    """Number of parameters of a Conv2D layer."""
    ### BEGIN SOLUTION
    return h * w * d * n_filters + (n_filters if bias else 0)
    ### END SOLUTION


def dense_params(n_in, n_out, bias=True):
    """Number of parameters of a Dense layer."""
    ### BEGIN SOLUTION
    return n_in * n_out + (n_out if bias else 0)
    ### END SOLUTION

# %% tests id=test_conv2d_params points=2
# Visible test: the lecture's examples.
checks.check_equal(conv2d_params(5, 5, 3, 2), 152, "conv2d_params(5, 5, 3, 2)")
checks.check_equal(conv2d_params(5, 5, 3, 2, bias=False), 150, "conv2d_params(5, 5, 3, 2, bias=False)")
checks.check_equal(conv2d_params(3, 3, 1, 64), 640, "conv2d_params(3, 3, 1, 64)")
checks.check_equal(conv2d_params(4, 2, 3, 5), 125, "conv2d_params(4, 2, 3, 5) (h=4, w=2)")
import keras
_layer = keras.layers.Conv2D(4, (2, 3), use_bias=False)
_layer.build((None, 8, 8, 5))
checks.check_equal(conv2d_params(2, 3, 5, 4, bias=False), _layer.count_params(),
                   "conv2d_params(2, 3, 5, 4, bias=False) against Keras")
print("conv2d_params: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("conv2d_params", conv2d_params)
# (checked in the kernel only: three layers against Keras)
_rng = np.random.default_rng(2021)
for _ in range(20):  # the 20 draws attested above, then three layers against Keras
    _rng.integers(1, 20, size=4)
for _ in range(3):
    _h, _w, _d, _nf = (int(v) for v in _rng.integers(1, 6, size=4))
    _layer = keras.layers.Conv2D(_nf, (_h, _w))
    _layer.build((None, 8, 8, _d))
    checks.check_equal(conv2d_params(_h, _w, _d, _nf), _layer.count_params(),
                       f"conv2d_params({_h}, {_w}, {_d}, {_nf}) against Keras")
### END HIDDEN TESTS

# %% tests id=test_dense_params points=1
checks.check_equal(dense_params(400, 120), 48120, "dense_params(400, 120)")
checks.check_equal(dense_params(84, 10, bias=False), 840, "dense_params(84, 10, bias=False)")
print("dense_params: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("dense_params", dense_params)
### END HIDDEN TESTS

# %% [markdown]
# ### The lecture's "very simple CNN"
#
# Conv2D with 64 filters 3x3 on a 28x28x1 image, Flatten, Dense with 10 neurons. With
# `padding='valid'` the convolution gives a 26x26x64 volume, flattened into
# $26 \cdot 26 \cdot 64 = 43{,}264$ values. By hand and by Keras:

# %% tags=nbval-check-output
simple = keras_tools.build_simple_cnn()
try:
    by_hand = [conv2d_params(3, 3, 1, 64), 0, dense_params(26 * 26 * 64, 10)]
    print(f"{'layer':<10}{'output shape':>16}{'Keras':>10}{'by hand':>10}")
    for (_, kind, shape, n), mine in zip(keras_tools.layer_table(simple), by_hand):
        print(f"{kind:<10}{str(shape):>16}{n:>10,}{mine:>10,}")
    print(f"{'total':<26}{simple.count_params():>10,}{sum(by_hand):>10,}")
except (NotImplementedError, NameError):
    print("(this table needs your conv2d_params and dense_params of exercise 1)")

# %% [markdown]
# Both say **433,290**, the lecture's total (640 + 432,650). One detail of the slide is
# off: its code adds a `MaxPooling2D(pool_size=(2, 2))` after the convolution, but its
# `model.summary()` has no pooling layer; the numbers belong to the model *without*
# pooling. With the pooling, as in the code, the Dense layer sees 13x13x64 values:

# %% tags=nbval-check-output
try:
    print(f"with MaxPooling2D: {keras_tools.build_simple_cnn(pool=True).count_params():,} parameters "
          f"= {conv2d_params(3, 3, 1, 64)} + {dense_params(13 * 13 * 64, 10):,}")
except (NotImplementedError, NameError):
    print("(this needs your conv2d_params and dense_params of exercise 1)")

# %% [markdown]
# Pooling has no parameters, but it divides the input of the Dense layer by 4, and the
# Dense layer holds 99.9% of the parameters: one pooling layer makes the model 4 times
# smaller.
#
# ## 2. Output shapes through a stack of layers
#
# To count the parameters of a Dense layer after a Flatten you need the shape that
# reaches it. Along one axis, a convolution or a pooling with window `k` and stride `s`
# gives
#
# * `padding='valid'`: $\lfloor (n - k) / s \rfloor + 1$,
# * `padding='same'`: $\lceil n / s \rceil$ (Keras pads as needed),
#
# a Conv2D's output has depth `n_f`, a pooling keeps the depth, Flatten multiplies
# everything, a Dense layer outputs `units` values.
#
# **Exercise 2 (3 points).** Write `output_shapes(input_shape, layers)`: `input_shape` is
# `(height, width, depth)` (no batch axis) and `layers` a list of tuples, one per layer:
#
# * `("conv", n_filters, kernel)`, `("conv", n_filters, kernel, stride)` or
#   `("conv", n_filters, kernel, stride, padding)`;
# * `("pool", size)`, `("pool", size, stride)` or `("pool", size, stride, padding)`;
#   a stride of `None` means "equal to `size`", as in Keras;
# * `("flatten",)`;
# * `("dense", units)`.
#
# `kernel`, `size` and `stride` are an int or a pair `(rows, cols)`; strides default to 1
# for conv, padding to `'valid'`. Return the list of the output shapes of the layers, each
# a tuple of ints: `(rows, cols, depth)` before the Flatten, `(n,)` after it. You may
# assume the stack is valid (every window fits). The tests use every form above (pairs,
# strides of `None`, `'same'` padding with strides above 1, odd sizes), on random stacks
# of up to three conv or pool layers, a Flatten and Dense layers.
#
# The lecture's LeNet-5 in this notation (the figures below use it):

# %%
LENET = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
         ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]

# %% solution id=output_shapes
def output_shapes(input_shape, layers):
    """Output shape (without the batch axis) of each layer of a stack."""
    ### BEGIN SOLUTION
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    def size(n, k, s, padding):
        return (n - k) // s + 1 if padding == "valid" else -(-n // s)

    shape, shapes = tuple(input_shape), []
    for spec in layers:
        kind = spec[0]
        if kind in ("conv", "pool"):
            if kind == "conv":
                depth, kernel = spec[1], spec[2]
                rest = spec[3:]
                stride = rest[0] if len(rest) > 0 else 1
            else:
                depth, kernel = shape[2], spec[1]
                rest = spec[2:]
                stride = rest[0] if len(rest) > 0 and rest[0] is not None else kernel
            padding = rest[1] if len(rest) > 1 else "valid"
            (kr, kc), (sr, sc) = pair(kernel), pair(stride)
            shape = (size(shape[0], kr, sr, padding), size(shape[1], kc, sc, padding), depth)
        elif kind == "flatten":
            shape = (math.prod(shape),)
        else:
            shape = (spec[1],)
        shapes.append(shape)
    return shapes
    ### END SOLUTION

# %% tests id=test_output_shapes points=3
_lenet_layers = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
                 ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]
checks.check_equal(output_shapes((32, 32, 1), _lenet_layers),
                   [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (120,), (84,), (10,)],
                   "output_shapes((32, 32, 1), LENET)")
checks.check_equal(output_shapes((224, 224, 3), [("conv", 64, 3, 1, "same"), ("pool", 2)]),
                   [(224, 224, 64), (112, 112, 64)], "the first block of VGG16")
checks.check_equal(output_shapes((227, 227, 3), [("conv", 96, 11, 4)]), [(55, 55, 96)],
                   "AlexNet's first layer (11x11, stride 4)")
checks.check_equal(output_shapes((7, 5, 2), [("pool", 2)]), [(3, 2, 2)], "output_shapes((7, 5, 2), [('pool', 2)])")
checks.check_equal(output_shapes((9, 7, 3), [("conv", 5, (3, 2), (2, 1), "same"), ("pool", 2, None, "same"),
                                             ("pool", (2, 1), 1), ("flatten",), ("dense", 4)]),
                   [(5, 7, 5), (3, 4, 5), (2, 4, 5), (40,), (4,)],
                   "a (3, 2) kernel with stride (2, 1), 'same'; a pool of stride None, 'same'; a (2, 1) pool, stride 1")
checks.check_equal(output_shapes((20, 17, 1), [("conv", 8, 3, 2), ("pool", 3, 2, "same"), ("conv", 4, (1, 3), 1, "same")]),
                   [(9, 8, 8), (5, 4, 8), (5, 4, 4)], "a conv of stride 2, a 3x3 pool of stride 2 'same', a (1, 3) conv")
print("output_shapes: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
# four hand-picked stacks, then forty random ones; each list of shapes flattened into one list of ints:
# for each layer, its number of axes, then its sizes
attest("output_shapes",
       lambda _shape, _layers: [_v for _s in output_shapes(_shape, _layers) for _v in (len(_s), *_s)])
### END HIDDEN TESTS

# %% [markdown]
# ## 3. LeNet-5 in Keras
#
# The first CNN (LeCun et al., 1998), as the lecture writes it in Keras, on a 32x32 grey
# image:
#
# | layer | | activation | output shape |
# | --- | --- | --- | --- |
# | Conv2D | 6 filters 5x5, `padding='valid'` | tanh | 28x28x6 |
# | AveragePooling2D | 2x2 | | 14x14x6 |
# | Conv2D | 16 filters 5x5, `padding='valid'` | tanh | 10x10x16 |
# | AveragePooling2D | 2x2 | | 5x5x16 |
# | Flatten | | | 400 |
# | Dense | 120 | relu | 120 |
# | Dense | 84 | relu | 84 |
# | Dense | `num_classes` | softmax | 10 |
#
# **Exercise 3 (4 points).** Write `build_lenet5(input_shape=(32, 32, 1), num_classes=10)`
# returning this model as a `keras.Sequential` (start it with `keras.Input(shape=input_shape)`
# rather than passing `input_shape=` to the first layer, which Keras 3 deprecates). It must
# work for any input shape the two convolutions and poolings fit in, and any number of
# classes. The model has exactly these eight layers, each activation given as the
# `activation=` of its Conv2D or Dense layer (no separate `Activation` layers), pooling
# with Keras' default stride (the pool size). The tests check, layer by layer, the type,
# the activation, the padding, the kernel or pool size, the strides, the output shape and
# the parameters: `test_lenet5_structure` (2 points) on the lecture's 32x32x1 input with
# 10 classes, `test_lenet5_counts` (2 points) on other input shapes (16 to 47 pixels, 1 to
# 4 channels) and numbers of classes.

# %% solution id=build_lenet5
def build_lenet5(input_shape=(32, 32, 1), num_classes=10):
    """LeNet-5 as in the lecture."""
    ### BEGIN SOLUTION
    model = keras.Sequential()
    model.add(keras.Input(shape=input_shape))
    model.add(layers.Conv2D(filters=6, kernel_size=(5, 5), activation="tanh", padding="valid"))
    model.add(layers.AveragePooling2D(pool_size=(2, 2)))
    model.add(layers.Conv2D(filters=16, kernel_size=(5, 5), activation="tanh", padding="valid"))
    model.add(layers.AveragePooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(120, activation="relu"))
    model.add(layers.Dense(84, activation="relu"))
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model
    ### END SOLUTION

# %% tests id=test_lenet5_structure points=2
import keras
_lenet = build_lenet5()
checks.check_type(_lenet, keras.Model, "build_lenet5()")
_layers = keras_tools.flat_layers(_lenet)          # the layers, the input left out
checks.check_equal([type(l).__name__ for l in _layers],
                   ["Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D", "Flatten", "Dense", "Dense", "Dense"],
                   "the layer types of build_lenet5()")
checks.check_equal([getattr(getattr(l, "activation", None), "__name__", "") for l in _layers],
                   ["tanh", "", "tanh", "", "", "relu", "relu", "softmax"], "the activations of build_lenet5()")
checks.check_equal([getattr(l, "padding", "") for l in _layers], ["valid"] * 4 + [""] * 4,
                   "the paddings of the convolutions and poolings")
checks.check_equal([tuple(getattr(l, "kernel_size", None) or getattr(l, "pool_size", None) or ()) for l in _layers],
                   [(5, 5), (2, 2), (5, 5), (2, 2), (), (), (), ()], "the kernel and pool sizes")
checks.check_equal([tuple(getattr(l, "strides", None) or ()) for l in _layers],
                   [(1, 1), (2, 2), (1, 1), (2, 2), (), (), (), ()], "the strides")
checks.check_equal([r[2:] for r in keras_tools.layer_table(_lenet)],
                   [((28, 28, 6), 156), ((14, 14, 6), 0), ((10, 10, 16), 2416), ((5, 5, 16), 0), ((400,), 0),
                    ((120,), 48120), ((84,), 10164), ((10,), 850)],
                   "the output shape and parameters of each layer of build_lenet5()")
checks.check_equal(_lenet.count_params(), 61706, "build_lenet5().count_params()")
print("build_lenet5 structure: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
from parcel_utils.keras_tools import model_signature
# each layer as ints: class, activation, padding, kernel or pool size, strides, output shape, parameters
attest("build_lenet5", lambda _s, _c: model_signature(build_lenet5(_s, _c)))
### END HIDDEN TESTS

# %% tests id=test_lenet5_counts points=2
checks.check_equal([r[1:] for r in keras_tools.layer_table(build_lenet5((40, 28, 2), 7))],
                   [("Conv2D", (36, 24, 6), 306), ("AveragePooling2D", (18, 12, 6), 0), ("Conv2D", (14, 8, 16), 2416),
                    ("AveragePooling2D", (7, 4, 16), 0), ("Flatten", (448,), 0), ("Dense", (120,), 53880),
                    ("Dense", (84,), 10164), ("Dense", (7,), 595)],
                   "the layers of build_lenet5((40, 28, 2), 7): type, output shape, parameters")
checks.check_equal([r[1:] for r in keras_tools.layer_table(build_lenet5(input_shape=(20, 24, 1), num_classes=3))],
                   [("Conv2D", (16, 20, 6), 156), ("AveragePooling2D", (8, 10, 6), 0), ("Conv2D", (4, 6, 16), 2416),
                    ("AveragePooling2D", (2, 3, 16), 0), ("Flatten", (96,), 0), ("Dense", (120,), 11640),
                    ("Dense", (84,), 10164), ("Dense", (3,), 255)],
                   "the layers of build_lenet5(input_shape=(20, 24, 1), num_classes=3)")
checks.check_equal([getattr(getattr(l, "activation", None), "__name__", "")
                    for l in keras_tools.flat_layers(build_lenet5((40, 28, 2), 7))],
                   ["tanh", "", "tanh", "", "", "relu", "relu", "softmax"], "the activations of build_lenet5((40, 28, 2), 7)")
print("build_lenet5 counts: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
from parcel_utils.keras_tools import model_signature
# the same on other input shapes and numbers of classes
attest("build_lenet5_shapes", lambda _s, _c: model_signature(build_lenet5(_s, _c)))
### END HIDDEN TESTS

# %% [markdown]
# Your model, and the same counts by hand with your functions from exercises 1 and 2.
# (`model.summary()` prints the same table, but its layer names, `conv2d_3`, ..., count
# how many layers were built before; `keras_tools.layer_table` leaves the names out.)

# %% tags=nbval-check-output
try:
    lenet = build_lenet5()
    shapes = output_shapes((32, 32, 1), LENET)
    inputs = [(32, 32, 1)] + shapes[:-1]
    hand = [conv2d_params(5, 5, s_in[2], s_out[2]) if spec[0] == "conv"
            else dense_params(s_in[0], s_out[0]) if spec[0] == "dense" else 0
            for spec, s_in, s_out in zip(LENET, inputs, shapes)]
    print(f"{'layer':<18}{'output shape':>16}{'Keras':>9}{'by hand':>9}")
    for (_, kind, shape, n), mine in zip(keras_tools.layer_table(lenet), hand):
        print(f"{kind:<18}{str(shape):>16}{n:>9,}{mine:>9,}")
    print(f"{'total':<34}{lenet.count_params():>9,}{sum(hand):>9,}")
    print(f"in the Dense layers: {sum(hand[5:]):,} of {sum(hand):,} ({sum(hand[5:]) / sum(hand):.1%})")
except (NotImplementedError, NameError):
    print("(this table needs your functions of exercises 1, 2 and 3)")

# %% [markdown]
# 156, 2,416, 48,120, 10,164 and 850: 61,706, as on the slide. As the slide says, most
# parameters are still in the MLP at the end (96%), while the first convolution, applied
# all over the image, has only 156.
#
# ## 4. Why not an MLP on the pixels? And what does colour cost?
#
# The lecture's alternative: feed the 32x32 = 1,024 pixels straight to the last two
# Dense layers of LeNet-5 (84 neurons, then 10). And then take an RGB image, 32x32x3.
#
# **Exercise 4 (2 points, needs exercise 1).** Using your `conv2d_params` and
# `dense_params` (not Keras), set three ints (`test_mlp_rgb` checks all three, against
# what Keras counts for the same layers):
#
# * `mlp_params_gray`: parameters of the MLP Flatten - Dense(84) - Dense(10) on a 32x32x1 image;
# * `mlp_params_rgb`: the same MLP on a 32x32x3 image;
# * `lenet_params_rgb`: LeNet-5 (exercise 3) on a 32x32x3 image.

# %% solution id=mlp_rgb
### BEGIN SOLUTION
mlp_params_gray = dense_params(32 * 32 * 1, 84) + dense_params(84, 10)
mlp_params_rgb = dense_params(32 * 32 * 3, 84) + dense_params(84, 10)
lenet_params_rgb = (conv2d_params(5, 5, 3, 6) + conv2d_params(5, 5, 6, 16)
                    + dense_params(5 * 5 * 16, 120) + dense_params(120, 84) + dense_params(84, 10))
### END SOLUTION

# %% tests id=test_mlp_rgb points=2
import keras
for _name in ("mlp_params_gray", "mlp_params_rgb", "lenet_params_rgb"):
    checks.check_type(globals().get(_name), (int, np.integer), _name)
checks.check_equal(mlp_params_gray, 86950, "mlp_params_gray")
_mlp_rgb = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(84),
                             keras.layers.Dense(10)])
checks.check_equal(mlp_params_rgb, _mlp_rgb.count_params(), "mlp_params_rgb, against Keras")
# LeNet-5's layers (as exercise 2 writes them) on a 32x32x3 image, built by Keras
_lenet_rgb = keras_tools.build_stack((32, 32, 3), [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
                                                   ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)])
checks.check_equal(lenet_params_rgb, _lenet_rgb.count_params(), "lenet_params_rgb, against Keras")
print("mlp / rgb: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("mlp_rgb", lambda: [mlp_params_gray, mlp_params_rgb, lenet_params_rgb])
### END HIDDEN TESTS

# %% tags=nbval-check-output
try:
    print(f"{'':>8}{'grey':>10}{'RGB':>10}{'ratio':>8}")
    print(f"{'LeNet-5':>8}{61706:>10,}{lenet_params_rgb:>10,}{lenet_params_rgb / 61706:>8.3f}")
    print(f"{'MLP':>8}{mlp_params_gray:>10,}{mlp_params_rgb:>10,}{mlp_params_rgb / mlp_params_gray:>8.3f}")
    print(f"first layer of LeNet-5: {conv2d_params(5, 5, 1, 6)} -> {conv2d_params(5, 5, 3, 6)}; "
          f"of the MLP: {dense_params(1024, 84):,} -> {dense_params(3072, 84):,}")
except (NotImplementedError, NameError):
    print("(this table needs exercises 1 and 4)")

# %% [markdown]
# The MLP already has more parameters than LeNet-5 (86,950 against 61,706), and it throws
# away what the convolutions use: that neighbouring pixels are correlated and that the same
# pattern may appear anywhere in the image. Colour makes the difference sharper. In the CNN
# only the first layer changes, $6 \cdot 5 \cdot 5 + 6 = 156 \to 6 \cdot 5 \cdot 5 \cdot 3 + 6 = 456$,
# while the other 61,550 parameters stay (+0.5% in all). In the MLP the weights of the first
# layer triple, $1024 \cdot 84 \to 3 \cdot 1024 \cdot 84$ (the 84 biases stay): 86,950 becomes
# 258,982, ×2.98. (The slide's formula for the MLP is garbled in our copy; the factor 3
# applies to the first layer's weights only.)
#
# ## 5. VGG16: where are the parameters?
#
# VGG16 stacks 13 convolutions 3x3 (`padding='same'`) in 5 blocks, each closed by a 2x2
# max pooling, and 3 Dense layers on 7x7x512 = 25,088 values. We build it once, with
# random weights (`weights=None`: nothing is downloaded). It takes a few seconds and about
# 550 MB of memory: 138 million float32 weights. The tests of exercises 5 and 7 use this
# `vgg16` (they build it again if you give that name to another model: explore under
# names of your own).

# %% tags=nbval-check-output
vgg16 = keras.applications.VGG16(weights=None)
print(f"VGG16: {vgg16.count_params():,} parameters, {len(keras_tools.layer_table(vgg16))} layers after the input")

# %% [markdown]
# **Exercise 5 (2 points).** Write `dense_share(model)`: the fraction (a float in [0, 1])
# of the parameters of a Keras model that sit in its `keras.layers.Dense` layers.
# `layer.count_params()` gives the parameters of one layer, `model.count_params()` the total.
# The tests use Sequential models of conv / pool / flatten / dense stacks and the
# functional `vgg16` above (whose `model.layers` starts with an `InputLayer`).

# %% solution id=dense_share
def dense_share(model):
    """Fraction of the parameters of `model` held by its Dense layers."""
    ### BEGIN SOLUTION
    n_dense = sum(l.count_params() for l in model.layers if isinstance(l, layers.Dense))
    return n_dense / model.count_params()
    ### END SOLUTION

# %% tests id=test_dense_share points=2
import keras
if not (isinstance(globals().get("vgg16"), keras.Model) and vgg16.count_params() == 138357544):
    vgg16 = keras.applications.VGG16(weights=None)       # the model of section 5, if the name now holds another
# LeNet-5's layer sizes (ReLU and max pooling instead of tanh and average pooling: the same parameters),
# built without your build_lenet5, so that this exercise does not depend on exercise 3
_lenet_stack = keras_tools.build_stack((32, 32, 1), [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
                                                     ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)])
checks.check_close(dense_share(_lenet_stack), 59134 / 61706, "dense_share(LeNet-5)")
checks.check_close(dense_share(keras_tools.build_simple_cnn()), 432650 / 433290, "dense_share(the very simple CNN)")
_stack = keras_tools.build_stack((20, 16, 3), [("conv", 4, (3, 5), 2, "same"), ("pool", 2, 1, "same"), ("flatten",),
                                               ("dense", 6), ("dense", 2)])
checks.check_close(dense_share(_stack), 1940 / 2124, "dense_share of a stack with two Dense layers")
checks.check_close(dense_share(vgg16), 123642856 / 138357544, "dense_share(vgg16)  (the lecture's numbers)")
print("dense_share: visible test passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
from parcel_utils.keras_tools import case_model
# VGG16 (the one built above), the simple CNN, then five random stacks
attest("dense_share", lambda _spec: dense_share(case_model(_spec, known={"vgg16": vgg16})))
### END HIDDEN TESTS

# %% tags=nbval-check-output
try:
    total = vgg16.count_params()
    fc = round(dense_share(vgg16) * total)     # your dense_share; the rest is in the 13 convolutions
    print(f"convolutions: {total - fc:>12,}  ({(total - fc) / total:.1%})")
    print(f"dense (FC):   {fc:>12,}  ({dense_share(vgg16):.1%})")
    print(f"  of which fc1 alone: {dense_params(7 * 7 * 512, 4096):,}")
except (NotImplementedError, NameError):
    print("(this needs your dense_share of exercise 5 and dense_params of exercise 1)")

# %% [markdown]
# The lecture: "138 million [Conv: 11%, FC: 89%]" and "most parameters in FC layers:
# 123,642,856". Both right: 10.6% and 89.4% round to 11% and 89%. The first Dense layer
# alone, which connects 25,088 values to 4,096 neurons, holds 102,764,544 parameters, 74%
# of the network; the 13 convolutions together hold 14.7 million.
#
# The same total by hand, with your `output_shapes`, `conv2d_params` and `dense_params`:

# %% tags=nbval-check-output
def block(n_convs, n_filters):
    return [("conv", n_filters, 3, 1, "same")] * n_convs + [("pool", 2)]

VGG16 = (block(2, 64) + block(2, 128) + block(3, 256) + block(3, 512) + block(3, 512)
         + [("flatten",), ("dense", 4096), ("dense", 4096), ("dense", 1000)])
try:
    shapes = output_shapes((224, 224, 3), VGG16)
    inputs = [(224, 224, 3)] + shapes[:-1]
    hand = [conv2d_params(3, 3, s_in[2], s_out[2]) if spec[0] == "conv"
            else dense_params(s_in[0], s_out[0]) if spec[0] == "dense" else 0
            for spec, s_in, s_out in zip(VGG16, inputs, shapes)]
    keras_counts = [r[3] for r in keras_tools.layer_table(vgg16)]
    print(f"by hand {sum(hand):,}, Keras {vgg16.count_params():,}, every layer equal: {hand == keras_counts}")
except (NotImplementedError, NameError):
    print("(this needs your functions of exercises 1 and 2)")

# %% [markdown]
# Two more numbers of the lecture, checked with the same functions:
#
# * **"3 layers 3x3 ... 27 parameters, 1 layer 7x7 ... 49"**: that counts the weights of one
#   input channel for one filter. With `C` channels in and out, the three 3x3 layers have
#   $3 \cdot (9C^2 + C)$ parameters and the 7x7 layer $49C^2 + C$: still 27 against 49 per
#   channel pair.
# * **AlexNet, "60 million [Conv: 3.7 million (6%), FC: 58.6 million (94%)]"**, input
#   "224 x 224 x 3 (the paper says 227 x 227 x 3)". 227 is the size that works: with an
#   11x11 filter at stride 4, $(227 - 11)/4 + 1 = 55$, the paper's 55x55, while 224 does not
#   divide evenly. Single-tower AlexNet (without the paper's split over two GPUs):

# %% tags=nbval-check-output
C = 512
ALEXNET = [("conv", 96, 11, 4), ("pool", 3, 2), ("conv", 256, 5, 1, "same"), ("pool", 3, 2),
           ("conv", 384, 3, 1, "same"), ("conv", 384, 3, 1, "same"), ("conv", 256, 3, 1, "same"),
           ("pool", 3, 2), ("flatten",), ("dense", 4096), ("dense", 4096), ("dense", 1000)]
try:
    print(f"C={C}: three 3x3 layers {3 * conv2d_params(3, 3, C, C):,}, one 7x7 layer {conv2d_params(7, 7, C, C):,}")
    for size in (227, 224):
        shapes = output_shapes((size, size, 3), ALEXNET)
        inputs = [(size, size, 3)] + shapes[:-1]
        hand = [conv2d_params(spec[2], spec[2], s_in[2], s_out[2]) if spec[0] == "conv"
                else dense_params(s_in[0], s_out[0]) if spec[0] == "dense" else 0
                for spec, s_in, s_out in zip(ALEXNET, inputs, shapes)]
        conv, fc = sum(hand[:8]), sum(hand[8:])
        print(f"AlexNet on {size}x{size}x3: conv1 -> {shapes[0]}, before flatten {shapes[7]}; "
              f"conv {conv:,} ({conv / (conv + fc):.0%}), FC {fc:,} ({fc / (conv + fc):.0%}), total {conv + fc:,}")
except (NotImplementedError, NameError):
    print("(this needs your functions of exercises 1 and 2)")

# %% [markdown]
# On 227x227 the numbers are those of the slide: 3.7 million in the convolutions, 58.6
# million in the FC layers, 6% / 94%; their sum is 62.4 million, which the slide rounds
# down to "60 million". On 224x224 (and Keras-style floor division) the first layer gives
# 54x54 and the last pooling 5x5: the convolution counts do not depend on the image size,
# the FC counts do (the first FC layer loses almost a third of its parameters).
#
# ## 6. MobileNet: depthwise separable convolutions
#
# A Conv2D layer mixes space and channels at once. MobileNet splits it in two:
#
# * a **depthwise** convolution: one $h \times w$ filter per input channel, no mixing
#   ($h \cdot w \cdot d$ weights, plus $d$ biases);
# * a **pointwise** 1x1 convolution that mixes the `d` channels into `n_f`
#   ($d \cdot n_f$ weights, plus $n_f$ biases).
#
# The cost of a layer is also counted in **multiply-adds**: a standard convolution computes
# $H_{out} \cdot W_{out} \cdot n_f$ values, each a dot product of $h \cdot w \cdot d$ weights
# with the input; the depthwise step costs $h \cdot w \cdot d$ per output position, the
# pointwise step $d \cdot n_f$. (Biases are additions only and are not counted.)
#
# **Exercise 6 (4 points).** Write
#
# * `depthwise_separable_params(h, w, d, n_filters, bias=True)`: parameters of a depthwise
#   convolution `h x w` on `d` channels followed by a pointwise convolution to `n_filters`
#   channels, both with biases when `bias` is true (Keras' `DepthwiseConv2D` followed by
#   `Conv2D(n_filters, 1)`);
# * `conv2d_mult_adds(h, w, d, n_filters, out_h, out_w)` and
#   `depthwise_separable_mult_adds(h, w, d, n_filters, out_h, out_w)`: multiply-adds of a
#   standard and of a depthwise separable convolution producing an `out_h x out_w` output;
# * `separable_cost_ratio(h, w, n_filters)`: the ratio separable / standard of the
#   multiply-adds, as a formula in `h`, `w` and `n_filters` only (simplify the ratio of
#   your two functions above: `d`, `out_h` and `out_w` cancel).
#
# 1 point for `depthwise_separable_params` (`test_separable_params`, with `bias` given by
# keyword, against Keras), 2 for the two multiply-add counts (`test_mult_adds`), 1 for
# `separable_cost_ratio` (`test_cost_ratio`, to a relative tolerance of $10^{-9}$; it must
# agree with the ratio of the counts for any depth and output size). The three parts are
# independent of each other and of the other exercises; sizes go up to 60.

# %% solution id=separable_params
def depthwise_separable_params(h, w, d, n_filters, bias=True):
    """Parameters of a depthwise (h x w) + pointwise (1 x 1) convolution."""
    ### BEGIN SOLUTION
    depthwise = h * w * d + (d if bias else 0)
    pointwise = d * n_filters + (n_filters if bias else 0)
    return depthwise + pointwise
    ### END SOLUTION

# %% tests id=test_separable_params points=1
import keras
_sep = keras.Sequential([keras.Input((16, 16, 32)), keras.layers.DepthwiseConv2D(3), keras.layers.Conv2D(64, 1)])
checks.check_equal(depthwise_separable_params(3, 3, 32, 64), _sep.count_params(),
                   "depthwise_separable_params(3, 3, 32, 64), against Keras")
_sep = keras.Sequential([keras.Input((16, 16, 8)), keras.layers.DepthwiseConv2D((5, 3), use_bias=False),
                         keras.layers.Conv2D(16, 1, use_bias=False)])
checks.check_equal(depthwise_separable_params(5, 3, 8, 16, bias=False), _sep.count_params(),
                   "depthwise_separable_params(5, 3, 8, 16, bias=False), against Keras")
print("depthwise_separable_params: visible test passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("depthwise_separable_params", depthwise_separable_params)
### END HIDDEN TESTS

# %% solution id=mult_adds
def conv2d_mult_adds(h, w, d, n_filters, out_h, out_w):
    """Multiply-adds of a standard convolution."""
    ### BEGIN SOLUTION
    return h * w * d * n_filters * out_h * out_w
    ### END SOLUTION


def depthwise_separable_mult_adds(h, w, d, n_filters, out_h, out_w):
    """Multiply-adds of a depthwise separable convolution."""
    ### BEGIN SOLUTION
    return (h * w * d + d * n_filters) * out_h * out_w
    ### END SOLUTION

# %% tests id=test_mult_adds points=2
checks.check_equal(conv2d_mult_adds(3, 3, 512, 512, 14, 14), 462422016, "conv2d_mult_adds(3, 3, 512, 512, 14, 14)")
checks.check_equal(depthwise_separable_mult_adds(3, 3, 512, 512, 14, 14), 52283392,
                   "depthwise_separable_mult_adds(3, 3, 512, 512, 14, 14)")
checks.check_equal(conv2d_mult_adds(5, 3, 7, 11, 13, 17), 255255, "conv2d_mult_adds(5, 3, 7, 11, 13, 17)")
checks.check_equal(depthwise_separable_mult_adds(5, 3, 7, 11, 13, 17), 40222,
                   "depthwise_separable_mult_adds(5, 3, 7, 11, 13, 17)")
print("mult-adds: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
attest("conv2d_mult_adds", conv2d_mult_adds)
attest("depthwise_separable_mult_adds", depthwise_separable_mult_adds)
### END HIDDEN TESTS

# %% solution id=cost_ratio
def separable_cost_ratio(h, w, n_filters):
    """Multiply-adds of a depthwise separable over a standard convolution."""
    ### BEGIN SOLUTION
    return 1 / n_filters + 1 / (h * w)
    ### END SOLUTION

# %% tests id=test_cost_ratio points=1
checks.check_close(separable_cost_ratio(3, 3, 512), 1 / 512 + 1 / 9, "separable_cost_ratio(3, 3, 512)", rtol=1e-9)
checks.check_close(separable_cost_ratio(5, 2, 7), 17 / 70, "separable_cost_ratio(5, 2, 7)", rtol=1e-9)
print("separable_cost_ratio: visible test passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
# the cases give a depth d and an output size too: the ratio must not depend on them
attest("separable_cost_ratio", lambda _h, _w, _nf, _d, _oh, _ow: separable_cost_ratio(_h, _w, _nf))
### END HIDDEN TESTS

# %% [markdown]
# The ratio is
#
# $$\frac{(h\,w\,d + d\,n_f)\,H_{out} W_{out}}{h\,w\,d\,n_f\,H_{out} W_{out}} = \frac{1}{n_f} + \frac{1}{h\,w},$$
#
# the same for the weights (biases aside). With 3x3 filters it cannot go below 1/9: a
# separable layer costs 8 to 9 times less than a standard one once `n_f` is in the
# hundreds. Three layers of the shapes MobileNet uses:

# %% tags=nbval-check-output
try:
    print(f"{'layer':<24}{'params std':>12}{'params sep':>12}{'mult-adds std':>16}{'mult-adds sep':>15}{'ratio':>8}{'formula':>9}")
    for d, n_f, size in [(32, 64, 112), (512, 512, 14), (1024, 1024, 7)]:
        p_std, p_sep = conv2d_params(3, 3, d, n_f), depthwise_separable_params(3, 3, d, n_f)
        m_std, m_sep = conv2d_mult_adds(3, 3, d, n_f, size, size), depthwise_separable_mult_adds(3, 3, d, n_f, size, size)
        print(f"{f'3x3, {d}->{n_f}, {size}x{size}':<24}{p_std:>12,}{p_sep:>12,}{m_std:>16,}{m_sep:>15,}"
              f"{m_sep / m_std:>8.4f}{separable_cost_ratio(3, 3, n_f):>9.4f}")
except (NotImplementedError, NameError):
    print("(this table needs your functions of exercises 1 and 6)")

# %% [markdown]
# For the 512 -> 512 layer on 14x14: 1/512 + 1/9 = 0.1131, 8.8 times fewer multiply-adds
# (462 million against 52 million). Keras' single `SeparableConv2D` layer has only the
# pointwise biases, hence `d` parameters fewer than our count; MobileNet itself uses no
# biases at all but a batch normalisation after each step.
#
# ## 7. Activation memory of VGG16
#
# The lecture says of VGG16: "High memory request, about 100MB per image (224 x 224 x 3)
# to be stored in all the activation maps, only for the forward pass. During training,
# with the backward pass it's about twice". The activations are the outputs of the layers:
# their sizes are the output shapes, and each value is a float32, 4 bytes.
#
# **Exercise 7 (3 points).** Write `activation_count(model, include_input=True)`: the
# number of values (an int) in the activations of a Keras model for **one** input. Sum,
# over `model.layers`, the number of values of each layer's output (`layer.output.shape`,
# without its batch axis, which is `None`), skipping
#
# * `keras.layers.InputLayer` (functional models such as VGG16 list it among their layers),
# * `keras.layers.Flatten`, whose output is the same memory as its input, relabelled;
#
# and add the values of the input itself (`model.inputs[0].shape`, batch axis left out)
# when `include_input` is true. The models here have one input and no nested models.
# The tests use Sequential stacks and functional models (the `vgg16` above, a small one),
# with `include_input` given by keyword, both ways.

# %% solution id=activation_count
def activation_count(model, include_input=True):
    """Number of values in the activations of `model` for one input."""
    ### BEGIN SOLUTION
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Flatten)):
            continue
        total += math.prod(layer.output.shape[1:])
    if include_input:
        total += math.prod(model.inputs[0].shape[1:])
    return int(total)
    ### END SOLUTION

# %% tests id=test_activation_count points=3
import keras
if not (isinstance(globals().get("vgg16"), keras.Model) and vgg16.count_params() == 138357544):
    vgg16 = keras.applications.VGG16(weights=None)       # the model of section 5, if the name now holds another
# LeNet-5's layer sizes, as in exercise 5 (a Sequential model)
_small = keras_tools.build_stack((32, 32, 1), [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
                                               ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)])
checks.check_equal(activation_count(_small, include_input=False),
                   28 * 28 * 6 + 14 * 14 * 6 + 10 * 10 * 16 + 5 * 5 * 16 + 120 + 84 + 10,
                   "activation_count(LeNet-5, include_input=False)")
checks.check_equal(activation_count(_small), 9118, "activation_count(LeNet-5)")
# a functional model: its model.layers starts with the InputLayer
_inp = keras.Input((8, 8, 2))
_out = keras.layers.Dense(5)(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(3, 3)(_inp))))
_functional = keras.Model(_inp, _out)
checks.check_equal(activation_count(_functional, include_input=False), 6 * 6 * 3 + 3 * 3 * 3 + 5,
                   "activation_count(a functional Conv2D-MaxPooling2D-Flatten-Dense model, include_input=False)")
checks.check_equal(activation_count(_functional, include_input=True), 8 * 8 * 2 + 6 * 6 * 3 + 3 * 3 * 3 + 5,
                   "activation_count(the same, include_input=True)")
checks.check_equal(activation_count(vgg16), 15237608, "activation_count(vgg16)")
print("activation_count: visible tests passed")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest
from parcel_utils.keras_tools import case_model
# VGG16 (the one built above), then six random stacks; with and without the input
attest("activation_count",
       lambda _spec, _inc: activation_count(case_model(_spec, known={"vgg16": vgg16}), include_input=_inc))
### END HIDDEN TESTS

# %% tags=nbval-check-output
table = keras_tools.layer_table(vgg16)
n_params = vgg16.count_params()
try:
    n_act = activation_count(vgg16)
    print(f"VGG16, one 224x224x3 image: {n_act:,} values in the activations (input included)")
    print(f"  float32: {n_act * 4 / 1e6:.1f} MB ({n_act * 4 / 2**20:.1f} MiB) forward, "
          f"{2 * n_act * 4 / 1e6:.0f} MB with the gradients of training")
except (NotImplementedError, NameError):
    print("(this needs your activation_count of exercise 7)")
conv_maps = [math.prod(shape) for _, kind, shape, _ in table if kind in ("Conv2D", "MaxPooling2D")]
largest = max(a + b for a, b in zip(conv_maps[:-1], conv_maps[1:]))
print(f"  block1 alone: {sum(conv_maps[:3]) * 4 / 1e6:.1f} MB; largest two consecutive maps: {largest * 4 / 1e6:.1f} MB")
print(f"  the weights: {n_params:,} values, {n_params * 4 / 1e6:.0f} MB")

# %%
from parcel_utils import viz

fig = viz.plot_params_and_activations(
    table, title="VGG16 on one 224x224x3 image: memory in the first blocks, parameters in the FC layers")

# %% [markdown]
# **The count.** 15,237,608 values: 150,528 for the input, then 3.2 million for each of
# the two convolutions of block 1, and less and less as the maps shrink. At float32 that is
# **61 MB** (58 MiB) for the forward pass of one image, about 61% of the lecture's "about
# 100MB". Almost half of it (29 MB) is in block 1 alone, while the parameters sit at the
# other end, in the FC layers (the figure).
#
# **Where "about 100MB" comes from.** The figure matches the VGGNet case study of the
# Stanford CS231n notes (very likely its source), which lists the memory of every layer
# with exactly the sizes above (150K, 3.2M, 3.2M, 800K, 1.6M, ...) and then writes the
# total as "24M * 4 bytes ~= 93MB / image (only forward! ~*2 for bwd)". The values it lists
# add up to about 15.2 million, not 24 million: the total does not follow from its own
# list, and the list already has everything one could add (the input, the pooling
# outputs, the FC layers). Storing every activation of the forward pass takes 61 MB per
# image; "about 100MB" overstates it by about 1.6 times.
#
# **What the estimate leaves out, both ways.**
# * *Training* has to keep every activation until the backward pass uses it, and the
#   backward pass produces a gradient of the same size for each: "about twice", 122 MB per
#   image. This is per image: the activations of a batch of 32 need about 3.9 GB, which is
#   what limits the batch size on a GPU. Frameworks may also keep intermediate tensors (the
#   values before an activation function, for instance) and need workspace memory, so what
#   they allocate is more than this count.
# * *Inference* need not keep them: once a layer's output is computed its input can be
#   freed, so the peak is the largest pair of consecutive maps, 25.7 MB (the outputs of the
#   two convolutions of block 1).
# * And for one image the activations are not the big item: the 138 million weights take
#   553 MB, and training with Adam keeps their gradients and two moments as well, 2.2 GB
#   in all.
#
# ## 8. The lecture's table of `keras.applications` models
#
# The lecture lists the models of `keras.applications` with their size, parameters and
# depth (a copy of the table on keras.io). We build each one with `weights=None` (no
# download, random weights) and count. Building takes about one second per model on a
# laptop CPU, so the notebook builds the six below (VGG16 is the one built above); set
# `BUILD_ALL = True` to build all nineteen (about 30 s more).

# %%
BUILD_ALL = False
names = list(keras_tools.LECTURE_APPLICATIONS_TABLE) if BUILD_ALL else [
    "VGG16", "ResNet50", "MobileNet", "MobileNetV2", "DenseNet121", "EfficientNetB0"]
rows = keras_tools.applications_table(names, models={"VGG16": vgg16})

# %% tags=nbval-check-output
print(f"{'model':<18}{'parameters':>13}{'M':>7}{'lecture':>9}{'depth':>7}{'lecture':>9}{'float32 MiB':>13}{'lecture MB':>12}")
for r in rows:
    flag = "" if (r["params_m"], r["depth"]) == (r["lecture_params_m"], r["lecture_depth"]) else "  <- differs"
    print(f"{r['name']:<18}{r['params']:>13,}{r['params_m']:>7.1f}{r['lecture_params_m']:>9.1f}"
          f"{r['depth']:>7}{r['lecture_depth']:>9}{r['float32_mib']:>13.1f}{r['lecture_size_mb']:>12}{flag}")

# %% [markdown]
# * **Parameters**: every count agrees with the lecture's once rounded to 0.1 million
#   (VGG16's 138.4M is the 138,357,544 above). The thirteen models not built here also agree:
#   run with `BUILD_ALL = True` to see it.
# * **Depth** is the number of layers that hold weights: convolutions, Dense *and*
#   batch-normalisation layers (ResNet50: 53 + 53 + 1 = 107), for all nineteen models.
#   The note under the keras.io table says the topological depth "includes activation
#   layers", but these numbers leave out every layer without weights: VGG16's 16 is its 13
#   convolutions and 3 Dense layers, out of 22 layers after the input.
# * **Size** is the size of the downloadable weight file, in MB. For most models it is
#   within a megabyte of the parameters at 4 bytes each, in MiB (VGG16: 527.8 against 528);
#   DenseNet121 (33 against 30.8) and above all EfficientNetB0 (29 against 20.3) are
#   larger (as are the DenseNets and NASNets not built here, by 2 to 4 MB, and, by the
#   lecture's table, ResNet152, ResNet152V2 and InceptionResNetV2, by about 2 MB: 232 MB
#   against 60.4M x 4 bytes = 230.4 MiB): a file holds more than the float32 weights. The parameter count is the exact column; the size is a
#   rough guide.
#
# ## Summary
#
# | the lecture says | by hand and by Keras |
# | --- | --- |
# | 3 input maps, 2 filters 5x5: 152 | 152 |
# | very simple CNN: 640 + 432,650 = 433,290 | the same, but without the `MaxPooling2D` of its code (108,810 with it) |
# | LeNet-5: 156, 2,416, 48,120, 10,164, 850 = 61,706 | the same |
# | MLP on 32x32: 86,950; RGB: CNN 156 -> 456 | the same; MLP 86,950 -> 258,982 |
# | VGG16: 138,357,544; FC 123,642,856 (89%) | the same (89.4%) |
# | AlexNet: 60 million, 3.7M conv / 58.6M FC | 62.4 million on 227x227 |
# | MobileNet: separable convolutions are cheaper | ratio $1/n_f + 1/(h w)$, 0.113 for 3x3, 512 filters |
# | VGG16: about 100 MB per image forward, twice for training | 61 MB forward, 122 MB for training |
