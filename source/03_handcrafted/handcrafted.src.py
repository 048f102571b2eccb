"""03_handcrafted / handcrafted: a parcel classifier on hand-crafted features.

Built into handcrafted.ipynb by `make source`; see CONTRIBUTING.md (the cell grammar).
"""
# %% readonly id=colab_setup include=colab_setup

# %% [markdown]
# # 03 · Classifying parcels with hand-crafted features
#
# A sorting machine must tell what lies on the conveyor belt: a box goes one
# way, an envelope another, and two items touching each other (a
# *singulation failure*) must be sent back. A 3D sensor above the belt gives,
# for every pixel, the **height** of what is under it, in millimetres above
# the belt. The lecture's first answer: images cannot be fed directly to a
# classifier, so we extract **features** that mean something to us (average
# height, area, distribution of heights, perimeter, diagonals), then train a
# classifier on the feature vectors.
#
# Hand-crafted features exploit what we know, are interpretable, and need
# little training data; but they take design effort, and they see only what
# we thought of. This notebook builds them, measures how far they go, and
# looks at where they fail: the CNN of assignment 04 starts from there.
#
# | exercise | points |
# |---|---|
# | 1 · `average_height` | 2 |
# | 2 · `area` | 2 |
# | 3 · `height_histogram` | 2 |
# | 4 · `footprint` | 2 |
# | 5 · `perimeter` | 2 |
# | 6 · `diagonals` | 3 |
# | 7 · `my_feature`, a feature of your own design (graded by hand) | 3 |
# | 7 · why it should help, in words (graded by hand) | 2 |
# | 8 · `make_classifier`: scaling + SVM pipeline | 2 |
# | 9 · `select_hyperparameters` on the validation split | 3 |
# | 10 · `final_model` fitted without a test row (`test_no_leakage`) | 2 |
# | 10 · `best_params`, `val_scores`, `test_accuracy`: the SVM's test accuracy, at most 5 points below the reference (`test_test_accuracy`) | 3 |
# | 11 · `build_mlp`, `mlp_model`, `mlp_history`, `mlp_test_accuracy`: the lecture's MLP, at most 5 points below the reference (`test_mlp`) | 3 |
# | **total** | 31 |
#
# Fill in the cells that `raise NotImplementedError()` and run the test below
# each one. The visible tests check a few shapes of known geometry, and for
# exercises 10 and 11 the same things the grader checks (the rows the models
# were fitted on, the accuracy bars); when the notebook is graded, hidden
# tests also call your functions on other maps, and check your saved models
# outside your kernel.
#
# Warnings your code prints (on stderr) cost no points: a test cell scores
# zero only when it raises an error. You still see them while you work.
#
# **Time.** When the notebook is graded, a cell that runs past the grader's
# timeout stops the notebook there, and every test cell after it scores
# zero. The grader gives each cell of 03 five times what the slowest cell of
# the reference solution took (its run in `solutions/`), and never less than
# **30 s**; the whole notebook five times the reference's whole run, and
# never less than **180 s**. Plan for 30 s per cell. The cells that run your
# own feature on thousands of maps (exercise 7) show a progress bar and stay
# within that.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy import ndimage

from parcel_utils.data import load_parcels, PIXEL_MM, IMAGE_SIZE
from parcel_utils.checks import check_close, check_equal, check_shape, check_type, check_in_range
from parcel_utils.viz import (plot_parcel_examples, plot_depth_surface, plot_feature_distributions,
                              plot_confusion_matrix, plot_predictions)

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## The data
#
# `load_parcels(split)` returns the maps `X` (N, 64, 64) as float32
# millimetres above the belt, the labels `y` and the class names. Each pixel
# is 8 mm x 8 mm: a map shows 512 mm x 512 mm of the belt. A **0 means "no
# measurement"**, not "height 0": the belt itself is suppressed by the
# sensor, and some pixels on the items return nothing (dark or glossy
# surfaces, the shadow behind a tall edge). The splits are fixed: train on
# `train`, choose on `val`, and look at `test` once, at the end. The first
# call generates the data (a few seconds) and caches it on disk.

# %%
X_train, y_train, class_names = load_parcels("train")
X_val, y_val, _ = load_parcels("val")
X_test, y_test, _ = load_parcels("test")

# %% tags=nbval-check-output
print("classes:", class_names)
for split, X, y in [("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test)]:
    print(f"{split:5s} {X.shape} {X.dtype}  per class: {np.bincount(y, minlength=len(class_names))}")

# %% [markdown]
# Four examples of each class; the colour is the height in mm, black is "no
# measurement". Look for what tells the classes apart: a box has a flat top
# and sharp edges; an envelope is thin, thicker in the middle, with a flap;
# a polybag is domed and wrinkled; a tube is a cylinder (its height goes from
# its radius at the rim to its diameter on the ridge); "multiple" is two or
# three items touching, with a seam between them. Note the sensor's
# imperfections: noise, missing pixels, shadows on the right of tall edges,
# "flying pixels" with a height in between on steep edges.

# %%
plot_parcel_examples(X_train, y_train, class_names, per_class=5, seed=3);

# %% [markdown]
# The same kind of map as a surface: a polybag, domed and wrinkled. The
# spikes down at its rim are flying pixels, the gaps are missing pixels.

# %%
i_bag = int(np.flatnonzero(y_train == class_names.index("polybag"))[0])
plot_depth_surface(X_train[i_bag], pixel_mm=PIXEL_MM, title=f"train #{i_bag}: a polybag");

# %% [markdown]
# ## Exercise 1 (2 points): `average_height`
#
# Write `average_height(depth)`: the mean height in mm over the **measured**
# pixels (`depth > 0`) of one map `depth` (H, W); return `0.0` for a map with
# no measured pixel. Averaging over all pixels would count the missing
# measurements and the empty belt as height 0, and make the feature depend on
# how much belt the map shows.

# %% solution id=average_height
def average_height(depth):
    """Mean height (mm) over the pixels with depth > 0; 0.0 if there are none."""
    ### BEGIN SOLUTION
    d = np.asarray(depth, dtype=np.float64)
    measured = d[d > 0]
    if measured.size == 0:
        return 0.0
    return float(measured.mean())
    ### END SOLUTION

# %% [markdown]
# The tests use shapes of known geometry: a 40 x 20 px rectangle 100 mm
# high, a disc, a rotated rectangle, each with and without dropout (pixels
# that return nothing). They come from the course package,
# `parcel_utils.shapes`: test maps drawn like the dataset's (float32, mm, 0
# where nothing is measured) whose areas, perimeters and sides are known
# from their geometry. They are test fixtures, not answers.

# %%
from parcel_utils.shapes import rectangle, disc, rotated_rectangle, with_dropout

shapes = {"rectangle": rectangle(), "disc": disc(), "rotated rectangle": rotated_rectangle()}
shapes.update({f"{k} with dropout": with_dropout(v, seed=i) for i, (k, v) in enumerate(list(shapes.items()))})
plot_parcel_examples(np.stack(list(shapes.values())), np.repeat([0, 1], 3), ["clean", "dropout"], per_class=3, seed=0);

# %% tests id=test_average_height points=2
check_type(average_height(rectangle()), (float, np.floating), name="average_height(rectangle())")
check_close(average_height(rectangle()), 100.0, name="average_height of the 100 mm rectangle")
check_close(average_height(with_dropout(rectangle())), 100.0,
            name="average_height of the 100 mm rectangle with dropout (zeros are not heights)")
check_close(average_height(np.zeros((8, 8))), 0.0, name="average_height of an empty map")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("average_height", average_height)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (2 points): `area`
#
# The lecture's "area" is the **coverage with nonzero measurements**. Write
# `area(depth, pixel_mm=PIXEL_MM)` returning a pair `(pixels, mm2)`: the
# number of measured pixels (an int) and the area they cover in mm² (a float;
# each pixel is `pixel_mm` x `pixel_mm`).

# %% solution id=area
def area(depth, pixel_mm=PIXEL_MM):
    """(number of pixels with depth > 0, their area in mm²)."""
    ### BEGIN SOLUTION
    n = int(np.count_nonzero(np.asarray(depth) > 0))
    return n, float(n * pixel_mm ** 2)
    ### END SOLUTION

# %% tests id=test_area points=2
check_equal(area(rectangle())[0], 800, name="area(rectangle())[0] (pixels)")
check_close(area(rectangle())[1], 800 * 64.0, name="area(rectangle())[1] (mm², 8 mm pixels)")
check_close(area(rectangle(), pixel_mm=2.0)[1], 3200.0, name="area(rectangle(), pixel_mm=2.0)[1]")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("area", area)                     # the pair (pixels, mm²), as one array of two numbers
attest("area_pixel_mm", area)            # the same maps, called with pixel_mm=5.0
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (2 points): `height_histogram`
#
# The distribution of heights, as a vector of fixed length: the fraction of
# the measured pixels in each bin of `HEIGHT_BINS_MM` (10 bins, edges in mm
# below). Write `height_histogram(depth, bins=HEIGHT_BINS_MM)` returning an
# array of `len(bins) - 1` floats that sum to 1 (all zeros if nothing is
# measured). Use `np.histogram(values, bins=bins)`; the bins are **fixed**,
# the same for every map, so that the entries mean the same thing from one
# map to the next (never `bins=10`, which adapts the edges to each map).

# %%
from parcel_utils.data import HEIGHT_BINS_MM
print(HEIGHT_BINS_MM)

# %% solution id=height_histogram
def height_histogram(depth, bins=HEIGHT_BINS_MM):
    """Fraction of the measured pixels in each height bin (sums to 1)."""
    ### BEGIN SOLUTION
    d = np.asarray(depth)
    h = d[d > 0]
    if h.size == 0:
        return np.zeros(len(bins) - 1)
    counts, _ = np.histogram(h, bins=bins)
    return counts / h.size
    ### END SOLUTION

# %% tests id=test_height_histogram points=2
_h = height_histogram(rectangle())
check_shape(_h, (10,), name="height_histogram(rectangle())")
check_close(_h.sum(), 1.0, name="the sum of height_histogram(rectangle())")
check_close(_h[6], 1.0, name="the bin [100, 150) mm of the 100 mm rectangle")
check_close(height_histogram(np.zeros((8, 8))), np.zeros(10), name="height_histogram of an empty map")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("height_histogram", height_histogram)
attest("height_histogram_bins", height_histogram)   # the same maps, with other bins
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 (2 points): `footprint`
#
# Perimeter and diagonals describe the region the item covers on the belt,
# its **footprint**. The measured pixels are not quite that: dropout punches
# holes in it and notches in its outline (each hole adds its own border to
# the perimeter), and flying pixels leave specks around it. Write
# `footprint(depth)` returning a boolean (H, W) mask, in three steps:
#
# 1. close the measured mask `depth > 0` with a 3 x 3 square
#    (`ndimage.binary_closing(mask, structure=np.ones((3, 3)))`); closing
#    erodes at the image border, so pad the mask with 2 pixels of `False`
#    first (`np.pad(mask, 2)`) and crop after, and keep every measured pixel
#    (`| mask`);
# 2. fill the holes (`ndimage.binary_fill_holes`);
# 3. keep the largest 8-connected component (`ndimage.label(mask,
#    structure=np.ones((3, 3)))`, then `np.bincount` of the labels).
#
# A map with no measured pixel has an all-`False` footprint.

# %% solution id=footprint
def footprint(depth):
    """Boolean (H, W) mask: measured pixels, closed 3x3, holes filled, largest 8-connected component."""
    ### BEGIN SOLUTION
    mask = np.asarray(depth) > 0
    if not mask.any():
        return mask
    square = np.ones((3, 3), bool)
    closed = ndimage.binary_closing(np.pad(mask, 2), structure=square)[2:-2, 2:-2] | mask
    filled = ndimage.binary_fill_holes(closed)
    labels, n = ndimage.label(filled, structure=square)
    if n <= 1:
        return filled
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)
    ### END SOLUTION

# %% tests id=test_footprint points=2
check_equal(footprint(rectangle()), rectangle() > 0, name="footprint(rectangle())")
check_equal(footprint(with_dropout(rectangle())), rectangle() > 0,
            name="footprint of the rectangle with dropout (holes filled)")
_specked = rectangle(); _specked[60, 60] = 9.0
check_equal(footprint(_specked), rectangle() > 0, name="footprint of the rectangle with a speck far away")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("footprint", footprint)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5 (2 points): `perimeter`
#
# Write `perimeter(mask)`: the perimeter in pixels of a boolean footprint
# `mask` (H, W), measured along the line through the centres of its border
# pixels, a straight step counting 1 and a diagonal step √2 (a 40 x 20 px
# rectangle measures 2 (39 + 19) = 116 px: the line joins the centres of its
# corner pixels). It is how scikit-image's
# `skimage.measure.perimeter(mask, neighborhood=4)` measures, and the
# perimeter of the shipped feature table below. Write it yourself, with
# NumPy and `scipy.ndimage`, without calling scikit-image: the test uses
# scikit-image's function as its check. Four steps:
#
# 1. the **border**: the pixels of the mask with at least one of their 4
#    neighbours (up, down, left, right) outside it or off the image,
#    `mask & ~ndimage.binary_erosion(mask, border_value=0)` (the erosion's
#    default structure is that cross of 4 neighbours);
# 2. for each border pixel, `s`, how many of its 4 neighbours are border
#    pixels, and `d`, how many of its 4 diagonal neighbours are. One
#    convolution reads both (a convolution reads a neighbourhood, as in 01):
#    at a border pixel,
#    `ndimage.convolve(border.astype(np.uint8), np.array([[10, 2, 10], [2, 1, 2], [10, 2, 10]]), mode="constant")`
#    is the code `1 + 2 s + 10 d`;
# 3. the **length** of each border pixel: the chain of border pixels passes
#    through it with two links, straight (1) or diagonal (√2), and it takes
#    half of each:
#    * **1**, two straight links: codes 5, 7, 15, 17, 25, 27 (`s` = 2 or 3, `d` ≤ 2);
#    * **√2**, two diagonal links: codes 21 and 33 (`s` = 0 and `d` = 2, or `s` = 1 and `d` = 3);
#    * **(1 + √2) / 2**, one of each: codes 13 and 23 (`s` = 1, `d` = 1 or 2);
#    * **0**, any other code;
# 4. the perimeter is the sum of these lengths over the border pixels (`0.0`
#    for an empty mask).
#
# It takes the footprint, not the depth map: the hidden tests give you
# correct footprints, so this exercise does not depend on exercise 4 (one
# visible check below uses your `footprint`, and says so when exercise 4 is
# not done).
#
# Graded (2 points): your perimeter must be scikit-image's to **0.001 px**
# on every mask: the visible test below checks that on the notebook's
# shapes and on random blobs, the hidden test on the correct footprints of
# other maps (the grader computes the expected values with the same
# scikit-image function). Rounding, even in float32, moves a sum by less
# than 0.0001 px; one border pixel given the wrong length moves it by at
# least 0.2 px.

# %% solution id=perimeter
def perimeter(mask):
    """Perimeter (px) of a boolean mask: border pixels, each 1, √2 or (1 + √2)/2 from its neighbours' code."""
    ### BEGIN SOLUTION
    mask = np.asarray(mask, dtype=bool)
    border = mask & ~ndimage.binary_erosion(mask, border_value=0)
    codes = ndimage.convolve(border.astype(np.uint8), np.array([[10, 2, 10], [2, 1, 2], [10, 2, 10]], np.uint8),
                             mode="constant")
    length = np.zeros(50)
    length[[5, 7, 15, 17, 25, 27]] = 1.0
    length[[21, 33]] = np.sqrt(2)
    length[[13, 23]] = (1 + np.sqrt(2)) / 2
    return float(length[codes[border]].sum())
    ### END SOLUTION

# %% tests id=test_perimeter points=2
from skimage.measure import perimeter as skimage_perimeter   # the check: your answer does not call it
check_close(perimeter(rectangle() > 0), 116.0, rtol=0, atol=1e-3, name="perimeter of the 40 x 20 px rectangle")
check_close(perimeter(np.zeros((8, 8), bool)), 0.0, rtol=0, atol=1e-3, name="perimeter of an empty mask")
_rng = np.random.default_rng(305)
_masks = {"the disc": disc() > 0, "the rectangle rotated by 30°": rotated_rectangle() > 0}
_masks.update({f"random blob {i}": ndimage.binary_opening(_rng.random((24, 24)) < 0.6) for i in range(4)})
for _label, _m in _masks.items():
    check_close(perimeter(_m), skimage_perimeter(_m, neighborhood=4), rtol=0, atol=1e-3,
                name=f"perimeter of {_label} (scikit-image's value)")
try:   # needs exercise 4: the perimeter of your footprint of the rectangle with dropout
    _fp = footprint(with_dropout(rectangle()))
except NotImplementedError:
    print("footprint (exercise 4) is not written yet: the check of the rectangle with dropout is skipped.")
else:
    check_close(perimeter(_fp), 116.0, rtol=0, atol=1e-3, name="perimeter of footprint(with_dropout(rectangle()))")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("perimeter", perimeter)           # on correct footprints of other maps, to 0.001 px
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6 (3 points): `diagonals`
#
# The lecture's "diagonals": lay the smallest rectangle around the footprint,
# in any orientation (the *oriented bounding rectangle*), and measure its
# length, width and diagonal. Write `diagonals(mask)` returning
# `(length, width, diagonal)` in pixels, `length >= width`,
# `diagonal = hypot(length, width)`, `(0.0, 0.0, 0.0)` for an empty mask:
#
# * take the coordinates `(r, c)` of the mask's pixels (the border pixels
#   are enough, and faster);
# * for every angle $a$ = 0°, 1°, ..., 89°, project them on the direction
#   $(\cos a, \sin a)$, i.e. $p = c \cos a + r \sin a$, and on the
#   perpendicular one, $q = -c \sin a + r \cos a$; the rectangle at angle
#   $a$ has sides `p.max() - p.min() + 1` and `q.max() - q.min() + 1` (the
#   `+ 1`: a pixel is 1 wide, so a 40 px row of pixels measures 40, not 39);
# * keep the angle with the smallest area, side x side.
#
# Vectorise over the angles: an (n_pixels, 90) array of projections.
#
# Graded (3 points): your `(length, width, diagonal)` must be this recipe's
# to **0.001 px** each, on every mask: the visible test below checks the 40
# x 20 px rectangle (40, 20 and √(40² + 20²) = 44.721), a diagonal line of 21
# pixels (at 45°: 20√2 + 1 = 29.284 long, 1 wide), the rectangle rotated by
# 30° (40.883 x 20.954: the drawn rectangle is 40 x 20, and the staircase of
# its slanted edges adds a little) and an empty mask; the hidden test checks
# the correct footprints of other maps. The recipe has one answer: however
# you write it (all pixels or the border only, a loop over the angles or an
# array, float32 or float64), rounding moves it by less than 0.0001 px,
# whereas other angles (every 0.5°, or the exact minimum over all
# orientations), another criterion (the smallest perimeter) or a side
# without its `+ 1` moves it by 0.01 px to several pixels on some maps.

# %% solution id=diagonals
def diagonals(mask):
    """(length, width, diagonal) in px of the minimum-area bounding rectangle over 0..89 degrees."""
    ### BEGIN SOLUTION
    mask = np.asarray(mask, dtype=bool)
    r, c = np.nonzero(mask)
    if r.size == 0:
        return 0.0, 0.0, 0.0
    a = np.deg2rad(np.arange(90.0))
    p = c[:, None] * np.cos(a) + r[:, None] * np.sin(a)
    q = -c[:, None] * np.sin(a) + r[:, None] * np.cos(a)
    e1 = p.max(axis=0) - p.min(axis=0) + 1
    e2 = q.max(axis=0) - q.min(axis=0) + 1
    k = np.argmin(e1 * e2)
    length, width = max(e1[k], e2[k]), min(e1[k], e2[k])
    return float(length), float(width), float(np.hypot(length, width))
    ### END SOLUTION

# %% tests id=test_diagonals points=3
check_close(diagonals(rectangle() > 0), (40.0, 20.0, np.hypot(40, 20)), rtol=0, atol=1e-3,
            name="diagonals of the 40 x 20 px rectangle")
_line = np.zeros((32, 32), bool); _line[np.arange(5, 26), np.arange(5, 26)] = True
check_close(diagonals(_line), (20 * np.sqrt(2) + 1, 1.0, np.hypot(20 * np.sqrt(2) + 1, 1)), rtol=0, atol=1e-3,
            name="diagonals of a diagonal line of 21 pixels")
check_close(diagonals(rotated_rectangle() > 0), (40.88269, 20.95448, 45.94001), rtol=0, atol=1e-3,
            name="diagonals of the rectangle rotated by 30°")
check_close(diagonals(np.zeros((8, 8), bool)), (0.0, 0.0, 0.0), rtol=0, atol=1e-3, name="diagonals of an empty mask")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest   # the grader checks the values outside your kernel
attest("diagonals", diagonals)           # on correct footprints of other maps, to 0.001 px
### END HIDDEN TESTS

# %% [markdown]
# ## The feature matrix
#
# These features, plus four more (`height_std_mm`, `height_p90_mm`,
# `rectangularity` = footprint area / (length x width), `compactness` = 4π
# area / perimeter²), give a vector of 20 numbers per map; geometric
# features are converted to mm. The course package ships them, computed
# for every map of the three splits (`load_features(split)`, one row per
# map, in the order of `load_parcels`). From here on we use them, so that
# the classifier does not depend on your exercises above.

# %%
from parcel_utils.data import load_features, FEATURE_NAMES

F_train = load_features("train")
F_val = load_features("val")
F_test = load_features("test")
feature_names = list(FEATURE_NAMES)

# %% tags=nbval-check-output
print(F_train.shape, F_val.shape, F_test.shape)
print(dict(zip(feature_names, np.round(F_train[0], 2).tolist())))

# %% [markdown]
# How well does each feature separate the classes? Each curve is the
# distribution of one feature over the training maps of one class. Where the
# curves overlap, that feature alone cannot tell the classes apart.

# %%
plot_feature_distributions(F_train, y_train, class_names, feature_names,
                           features=["average_height_mm", "area_mm2", "hist_20_40mm", "perimeter_mm",
                                     "length_mm", "width_mm", "height_std_mm", "rectangularity",
                                     "compactness"]);

# %% [markdown]
# ## Exercise 7 (3 + 2 points, graded by hand): a feature of your own
#
# Design one more feature. Look at the examples and at the distributions
# above: which classes overlap, and what do *you* see that tells them apart?
# (The seam between two touching boxes; the wrinkles of a polybag; the
# curved profile of a tube; the taper at the rim of an envelope...) Write
# `my_feature(depth)` returning one float for a depth map; explain it in its
# docstring. The cell after it shows whether it helps; it is not graded on
# accuracy.
#
# **Rubric.** `my_feature`, 3 points:
# - 1 point, well defined: one finite float for every map, computed on the
#   measured pixels only (depth > 0; a 0 is a missing measurement, not a
#   height), no `nan` or crash on a map with an empty or tiny footprint;
# - 1 point, robust: dropout holes and the footprint's outline do not change
#   it much (e.g. a median or a mask, not a raw max or a difference across a
#   hole);
# - 1 point, written to be used: NumPy on whole arrays (no Python loop over
#   pixels), and a docstring that says what it measures, in which unit and
#   on which pixels.
#
# The text below, 2 points: see its own heading.
#
# **Time.** The figure cell after the text runs `my_feature` on the 4,000
# training maps, and the last cell of the notebook on the 1,000 validation
# maps. When the notebook is graded, plan for **30 s** per cell (the
# grader's per-cell timeout for 03 is never less; see the top of the
# notebook): a cell past the timeout stops the notebook, and every test cell
# after it (exercises 8 to 11, 13 points) would score zero. So `my_feature`
# should take well under 30 s / 4,000 maps, about 7 ms per map, and a graded
# kernel may run slower than yours: NumPy on whole arrays takes a fraction
# of a millisecond per map, a Python loop over the 4,096 pixels of a map a
# few milliseconds. The two cells show a progress bar (with the time per
# map), and stop after 15 s, half the limit, saying so: the figure and the
# comparison then use the maps done by then, and no test cell is cut.

# %% manual id=my_feature points=3
def my_feature(depth):
    """Describe your feature here: what it measures, in which unit, and on which pixels."""
    ### BEGIN SOLUTION
    # Roughness: mean absolute Laplacian of the height inside the footprint (mm per px²).
    # Polybags are wrinkled and tubes are curved, boxes and envelopes are flat:
    # the second derivative of the height separates them, whatever their size.
    # Only pixels whose 4 neighbours are measured count, so that dropout and
    # the outline do not create fake curvature.
    d = np.asarray(depth, dtype=np.float64)
    m = d > 0
    inner = m.copy()
    inner[1:-1, 1:-1] &= m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    if not inner.any():
        return 0.0
    lap = np.zeros_like(d)
    lap[1:-1, 1:-1] = d[:-2, 1:-1] + d[2:, 1:-1] + d[1:-1, :-2] + d[1:-1, 2:] - 4 * d[1:-1, 1:-1]
    return float(np.abs(lap[inner]).mean())
    ### END SOLUTION

# %% [markdown] manual id=my_feature_why points=2
# **Why it should help (2 points).** Which classes does your feature
# separate, what does it measure on them, and what does the figure below
# show?
#
# *Rubric:* 1 point for the classes it should separate and the property of
# their maps it measures, one that the 20 features above do not see (as in
# the lecture: the better the features, the better the classifier); 1 point
# for reading the figure as it is: which classes' curves separate and which
# still overlap. An honest "it does not help, because ..." earns both.
#
# ### BEGIN SOLUTION
# The average height, the histogram and the footprint's shape do not see the
# *texture* of the top: a box with a bulging top and a polybag wrapped around
# a box have similar heights and outlines. The roughness measures the
# wrinkles (large on polybags), the curvature across a tube, and the seam and
# height step between touching items (large on "multiple"), and is near the
# noise level on boxes and envelopes. The histograms below separate the
# polybags and the tubes from the boxes.
# ### END SOLUTION

# %%
import time
from parcel_utils.progress import progress_bar

GRADED_CELL_SECONDS = 30    # the grader's per-cell timeout for 03 is never less (the top of the notebook says why)


def feature_of_maps(feature, X, desc, seconds=GRADED_CELL_SECONDS / 2):
    """``feature(x)`` for the maps ``x`` of ``X``, as a float array, with a progress bar.

    Stops after ``seconds`` (half of what a graded cell may run) and says so:
    the array then holds the values of the first maps only.
    """
    values, start = [], time.perf_counter()
    bar = progress_bar(X, desc=desc, unit="map", mininterval=1.0)
    try:
        for x in bar:
            values.append(feature(x))
            if time.perf_counter() - start > seconds and len(values) < len(X):
                per_map = (time.perf_counter() - start) / len(values)
                print(f"{desc}: stopped after {len(values)} of {len(X)} maps ({1000 * per_map:.1f} ms per map; "
                      f"{seconds:.0f} s is half of the {GRADED_CELL_SECONDS} s a graded cell may run). "
                      "Make it faster (NumPy on whole arrays) to use every map.")
                break
    finally:
        bar.close()
    return np.asarray(values, dtype=float)


# %%
try:
    _mine_train = feature_of_maps(my_feature, X_train, "my_feature, training maps")
except NotImplementedError:
    print("my_feature is not written yet.")
else:
    plot_feature_distributions(_mine_train[:, None], y_train[:len(_mine_train)], class_names, ["my_feature"],
                               ncols=1);

# %% [markdown]
# ## Exercise 8 (2 points): the classifier pipeline
#
# The features have very different scales (mm², fractions, mm): an RBF SVM
# measures distances between feature vectors, so without scaling the area
# (tens of thousands) would drown everything else. A scikit-learn
# `Pipeline` chains a `StandardScaler` (each feature to mean 0 and variance 1,
# with the mean and variance **of the data it is fitted on**) and the
# classifier, so that `fit` fits both on the same rows and `predict` applies
# both.
#
# Write `make_classifier(C, gamma)` returning an **unfitted**
# `Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C, gamma=gamma))])`.

# %% solution id=make_classifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def make_classifier(C, gamma):
    """An unfitted Pipeline: StandardScaler, then an RBF SVC(C, gamma)."""
    ### BEGIN SOLUTION
    return Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C, gamma=gamma))])
    ### END SOLUTION

# %% tests id=test_make_classifier points=2
_clf = make_classifier(10.0, 0.05)
check_type(_clf, Pipeline, name="make_classifier(10.0, 0.05)")
check_type(_clf.steps[0][1], StandardScaler, name="the first step of the pipeline")
check_type(_clf.steps[-1][1], SVC, name="the last step of the pipeline")
check_close(_clf.steps[-1][1].C, 10.0, name="the SVC's C")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest, fitted_attribute_count   # the grader checks the values outside your kernel
# the predictions of make_classifier(C, gamma) fitted on random data, on other rows
attest("make_classifier", lambda _A, _b, _Q, _C, _g: make_classifier(_C, _g).fit(_A, _b).predict(_Q))
# how many fitted attributes its steps hold (0: unfitted)
attest("make_classifier_unfitted", lambda _C, _g: fitted_attribute_count(make_classifier(_C, _g)))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9 (3 points): hyper-parameters on the validation split
#
# `C` (how hard the SVM tries to classify every training map correctly) and
# `gamma` (how local the RBF kernel is) are chosen by trying values and
# comparing the accuracy **on the validation split**. Not on the training
# split, where the most overfitted model wins, and **never on the test
# split**: a test score that chose the model is no longer an honest estimate
# of the accuracy on new parcels.
#
# Write `select_hyperparameters(make_model, grid, F_train, y_train, F_val, y_val)`:
#
# * `make_model(**params)` builds an unfitted model (e.g. `make_classifier`);
# * `grid` is a list of dicts of parameters, e.g. `[{"C": 1, "gamma": 0.1}, ...]`;
# * fit one model per dict on the training rows, score it on the validation
#   rows (`model.score`, the accuracy);
# * return `(best_params, scores)`: the dict with the highest validation
#   accuracy (the first one in the grid if tied) and the list of accuracies,
#   in the order of `grid`.

# %% solution id=select_hyperparameters
def select_hyperparameters(make_model, grid, F_train, y_train, F_val, y_val):
    """Fit make_model(**params) on train for each params in grid; pick the best on val."""
    ### BEGIN SOLUTION
    scores = []
    for params in grid:
        model = make_model(**params).fit(F_train, y_train)
        scores.append(float(model.score(F_val, y_val)))
    best = int(np.argmax(scores))
    return dict(grid[best]), scores
    ### END SOLUTION

# %% tests id=test_select_hyperparameters points=3
# (a k-nearest-neighbour model here, so that this test works whatever make_classifier is)
from sklearn.neighbors import KNeighborsClassifier


def _ref_make(n_neighbors):
    return KNeighborsClassifier(n_neighbors=n_neighbors)


_rng = np.random.default_rng(309)
_A = _rng.normal(size=(300, 3))
_b = (np.sin(3 * _A[:, 0]) + _A[:, 1] > 0).astype(int)
_grid = [{"n_neighbors": 150}, {"n_neighbors": 15}]
_best, _scores = select_hyperparameters(_ref_make, _grid, _A[:200], _b[:200], _A[200:], _b[200:])
check_equal(len(_scores), 2, name="the number of validation scores")
check_equal(_best, {"n_neighbors": 15}, name="the best parameters on this toy problem")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest, selection_record   # the grader checks the values outside your kernel
# each case as one array: the validation accuracies in grid order, then the index of the best parameters
attest("select_hyperparameters", lambda *_a: selection_record(select_hyperparameters, *_a))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10 (2 + 3 points): the final model, and one look at the test split
#
# Choose among the `grid` below on the validation split, fit the final model
# with the best parameters on the training split, and only then compute its
# accuracy on the test split, once. Use your `select_hyperparameters`
# (exercise 9) and your `make_classifier` (exercise 8) on the 20 shipped
# features `F_train`, `y_train`, `F_val`, `y_val`, and set the four variables
# the tests read:
#
# * `best_params`, `val_scores`: what `select_hyperparameters(make_classifier,
#   grid, F_train, y_train, F_val, y_val)` returns (the best dict of `grid`
#   and the validation accuracies, in the order of `grid`);
# * `final_model`: `make_classifier(**best_params)` fitted on `F_train`,
#   `y_train` (training + validation is allowed too);
# * `test_accuracy`: the accuracy of `final_model` on `F_test`, `y_test`, a
#   fraction in [0, 1].
#
# Graded:
#
# * `test_no_leakage` (2 points): `final_model` never saw a test row. Its
#   scaler must have been fitted on the rows of the training split (or of
#   training + validation: their count, mean and scale tell), and its SVM's
#   support vectors must hold no test row.
# * `test_test_accuracy` (3 points): the grader fits
#   `make_classifier(**best_params)` again on the training split (or
#   training + validation), predicts the test split, checks that your
#   `test_accuracy` is that model's accuracy, and that it is **at most 5
#   points below the reference solution's** (0.883; the value is in
#   `parcel_utils/reference_metrics.json`, key `test_accuracy`, and the
#   visible test reads it from there).
#
# Leave `F_train`, `F_val` and `F_test` as they are: the graded models use
# the 20 shipped features, and the grader recomputes those. Your own feature
# (exercise 7) gets its own cell and its own variables at the end of the
# notebook, not graded.

# %%
grid = [{"C": C, "gamma": g} for C in (3.0, 30.0, 300.0) for g in (0.01, 0.03, 0.1)]

# %% solution id=final_model
from sklearn.metrics import accuracy_score

### BEGIN SOLUTION
best_params, val_scores = select_hyperparameters(make_classifier, grid, F_train, y_train, F_val, y_val)
final_model = make_classifier(**best_params).fit(F_train, y_train)
test_accuracy = accuracy_score(y_test, final_model.predict(F_test))
### END SOLUTION

# %% tags=nbval-check-output
exercise_10_done = all(name in globals() for name in ("val_scores", "best_params", "final_model", "test_accuracy"))
if not exercise_10_done:
    print("Exercise 10 is not done yet: define best_params, val_scores, final_model and test_accuracy.")
else:
    print("validation accuracy per setting:")
    for p, s in zip(grid, val_scores):
        print(f"  C={p['C']:6.1f} gamma={p['gamma']:.2f}: {s:.3f}")
    print("best:", best_params)
    print(f"test accuracy: {test_accuracy:.3f}")

# %%
# Your test accuracy, published for the record: when the instructor runs the
# reference solution (`make solutions`), this value becomes the reference the
# hidden test below compares with.
from parcel_utils.checks import publish_metric
if "test_accuracy" in globals():
    publish_metric("test_accuracy", test_accuracy)

# %% tests id=test_no_leakage points=2
from parcel_utils.checks import check_no_leakage
_F = {split: load_features(split) for split in ("train", "val", "test")}    # the 20 shipped features, as graded
check_type(final_model, Pipeline, name="final_model")
check_equal(final_model.n_features_in_, len(FEATURE_NAMES),
            name="the number of features final_model was fitted on (the shipped ones; yours has its own cell)")
check_no_leakage(final_model, _F["test"], _F["train"], _F["val"], name="final_model")
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest, fit_fingerprint   # the grader checks what final_model was fitted on
attest("final_model_fit", lambda: fit_fingerprint(final_model))
### END HIDDEN TESTS

# %% tests id=test_test_accuracy points=3
from parcel_utils.checks import check_accuracy_against_reference
check_in_range(test_accuracy, 0.0, 1.0, name="test_accuracy")
check_equal(best_params in grid, True, name="'best_params is one of the dicts of grid'")
check_equal(len(val_scores), len(grid), name="the number of validation scores (one per dict of grid)")
check_close(final_model.steps[-1][1].C, best_params["C"], name="the C of final_model's SVC (best_params['C'])")
check_close(final_model.steps[-1][1].gamma, best_params["gamma"],
            name="the gamma of final_model's SVC (best_params['gamma'])")
_F = {split: load_features(split) for split in ("train", "val", "test")}    # the 20 shipped features, as graded
check_close(test_accuracy, accuracy_score(y_test, final_model.predict(_F["test"])),
            name="test_accuracy (the accuracy of final_model on the test split)")
check_accuracy_against_reference(test_accuracy, "03_handcrafted", "test_accuracy", tolerance=0.05)
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest, accuracy_record   # the grader refits the chosen parameters, computes the accuracy
attest("test_accuracy", lambda: accuracy_record(test_accuracy, best_params))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11 (3 points): the lecture's classifier, an MLP on the features
#
# In the lecture, the classifier on hand-crafted features is a small neural
# network, a multi-layer perceptron: an **input layer of the size of the
# feature vector** (20 here), a hidden layer, and an **output layer with one
# neuron per class** (a softmax: the posterior probability of each class).
# It is the bridge to 04: a CNN is a feature extraction network followed by
# the same kind of MLP, both learnt from the maps.
#
# Like the SVM, the MLP needs standardised inputs (an area in mm² next to a
# fraction would make one learning rate too large for one feature and too
# small for the other). Here the standardisation goes **inside the model**:
# a `keras.layers.Normalization()` layer, `adapt`ed on the training features
# (it learns their mean and variance, as `StandardScaler.fit` does), so that
# the model takes the raw features.
#
# Write `build_mlp(F_train, num_classes, hidden=64)` returning an uncompiled
# `keras.Sequential`: `keras.Input((F_train.shape[1],))`, the `Normalization`
# layer adapted on `F_train`, `Dense(hidden, activation="relu")`,
# `Dense(num_classes, activation="softmax")`.
#
# Then, in the cell after it, train it: `keras.utils.set_random_seed(0)`
# (given), `mlp_model = build_mlp(F_train, len(class_names))`, compiled with
# `keras.optimizers.Adam(1e-2)`, `"sparse_categorical_crossentropy"` and
# `metrics=["accuracy"]`; fit it on `F_train`, `y_train` for at most 60
# epochs, `batch_size=256`, with `validation_data=(F_val, y_val)` and
# `keras.callbacks.EarlyStopping(monitor="val_loss", patience=10,
# restore_best_weights=True)`: the validation split chooses the epoch, as it
# chose the SVM's `C` and `gamma`. Keep what `fit` returns in `mlp_history`,
# and compute `mlp_test_accuracy`, the accuracy of `mlp_model` on `F_test`,
# `y_test` (a fraction in [0, 1]), once. It takes about 10 s on two CPU
# cores. This exercise needs none of the others: it uses the shipped
# features.
#
# Graded, `test_mlp` (3 points): the grader saves `mlp_model` and, in a
# process of its own, feeds it the 20 shipped features of the three splits
# (as `load_features` returns them) and checks that
#
# * it has one input per feature and one softmax output per class;
# * its `Normalization` layer learnt the mean of the training rows (of
#   training + validation is allowed too; never of the test rows);
# * the best `val_loss` of `mlp_history` is its loss on the validation split
#   (early stopping on validation, the best weights restored);
# * `mlp_test_accuracy` is its accuracy on the test split (give or take two
#   maps), and it is **at most 5 points below the reference solution's**
#   (0.870; the value is in `parcel_utils/reference_metrics.json`, key
#   `mlp_test_accuracy`, and the visible test reads it from there).
#
# The visible test checks the same things in your kernel. Training is
# seeded; another machine may land a point or so away from the reference,
# which the 5 points absorb.

# %% solution id=build_mlp
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")    # fewer TensorFlow start-up messages
import keras


def build_mlp(F_train, num_classes, hidden=64):
    """Uncompiled MLP: Normalization adapted on F_train, Dense(hidden, relu), Dense(num_classes, softmax)."""
    ### BEGIN SOLUTION
    norm = keras.layers.Normalization(name="standardise")
    norm.adapt(np.asarray(F_train, dtype="float32"))
    return keras.Sequential([keras.Input((F_train.shape[1],), name="features"), norm,
                             keras.layers.Dense(hidden, activation="relu", name="hidden"),
                             keras.layers.Dense(num_classes, activation="softmax", name="posteriors")], name="mlp")
    ### END SOLUTION

# %% solution id=train_mlp
keras.utils.set_random_seed(0)   # seeds Python, NumPy and TensorFlow: the same numbers on a rerun
### BEGIN SOLUTION
mlp_model = build_mlp(F_train, len(class_names))
mlp_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
mlp_history = mlp_model.fit(F_train, y_train, validation_data=(F_val, y_val), epochs=60, batch_size=256,
                            callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=10,
                                                                     restore_best_weights=True)], verbose=0)
mlp_test_accuracy = float(np.mean(mlp_model.predict(F_test, verbose=0).argmax(axis=1) == y_test))
### END SOLUTION

# %%
if "mlp_test_accuracy" in globals():
    _vl = mlp_history.history["val_loss"]
    print(f"{len(_vl)} epochs, the best (restored) at epoch {int(np.argmin(_vl)) + 1}: "
          f"val_loss {min(_vl):.3f}; test accuracy {mlp_test_accuracy:.3f}")
    publish_metric("mlp_test_accuracy", mlp_test_accuracy)   # the reference run's value is the bar

# %% tests id=test_mlp points=3
from parcel_utils.checks import check_accuracy_against_reference, check_selected_on_validation
_F = {split: load_features(split) for split in ("train", "val", "test")}    # the 20 shipped features, as graded
check_type(mlp_model, keras.Model, name="mlp_model")
check_equal(tuple(mlp_model.input_shape), (None, len(FEATURE_NAMES)), name="the input shape of mlp_model")
check_equal(tuple(mlp_model.output_shape), (None, len(class_names)), name="the output shape of mlp_model")
_norm = [layer for layer in mlp_model.layers if isinstance(layer, keras.layers.Normalization)]
check_equal(len(_norm), 1, name="the number of Normalization layers of mlp_model")
_mean = np.ravel(keras.ops.convert_to_numpy(_norm[0].mean))
check_equal(any(np.all(np.abs(_mean - _G.mean(axis=0)) <= 1e-3 * _G.std(axis=0) + 1e-6)
                for _G in (_F["train"], np.vstack([_F["train"], _F["val"]]))), True,
            name="'the Normalization layer learnt the mean of the training features (adapt it on F_train)'")
check_selected_on_validation(mlp_model, mlp_history, _F["val"], y_val, _F["test"], y_test, name="mlp_model")
_p = mlp_model.predict(_F["test"], verbose=0)
check_close(_p.sum(axis=1), np.ones(len(_p)), rtol=1e-3, name="the sum of each output row of mlp_model (softmax)")
check_close(mlp_test_accuracy, np.mean(_p.argmax(axis=1) == y_test), atol=2 / len(y_test), rtol=0,
            name="mlp_test_accuracy (the accuracy of mlp_model on the test split)")
check_accuracy_against_reference(mlp_test_accuracy, "03_handcrafted", "mlp_test_accuracy", tolerance=0.05)
### BEGIN HIDDEN TESTS
from parcel_utils.attest import attest_model   # the grader saves mlp_model and checks it again, outside your kernel
attest_model("mlp_model", mlp_model, record=[mlp_test_accuracy, *mlp_history.history.get("val_loss", [])])
### END HIDDEN TESTS

# %% [markdown]
# ## The SVM and the MLP
#
# The two classifiers on the same 20 features, each chosen on the validation
# split and looked at once on the test split: the accuracy, and the recall
# of each class (the fraction of its test maps classified right).

# %%
_rows = []
if exercise_10_done:
    _rows.append(("SVM (exercise 10)", final_model.predict(F_test)))
if "mlp_test_accuracy" in globals():
    _rows.append(("MLP (exercise 11)", mlp_model.predict(F_test, verbose=0).argmax(axis=1)))
if not _rows:
    print("exercises 10 and 11 are not done yet.")
else:
    print(f"{'':18s}{'accuracy':>9s}" + "".join(f"{c:>10s}" for c in class_names))
    for _name, _pred in _rows:
        print(f"{_name:18s}{np.mean(_pred == y_test):9.3f}"
              + "".join(f"{np.mean(_pred[y_test == k] == k):10.3f}" for k in range(len(class_names))))

# %% [markdown]
# The MLP lands close to the SVM (the table above), and both make the same
# kind of mistakes: the lecture's "the better the features, the better the
# classifier" holds the other way round too. On the same 20 numbers, a
# different classifier cannot find what they do not measure. The MLP is the
# classifier a CNN ends with (04): there, the features are learnt too.

# %% [markdown]
# ## Where the features fail
#
# The confusion matrix counts, for each true class (row), what the model
# predicted (column). The mistakes are not spread evenly:

# %%
if exercise_10_done:
    y_pred = final_model.predict(F_test)
    plot_confusion_matrix(y_test, y_pred, class_names);

# %% [markdown]
# Some test maps, right (green) and wrong (red), with a few of their
# features. Look at the wrong ones: what would a person use to classify
# them that no feature above measures?

# %%
if exercise_10_done:
    _rng = np.random.default_rng(0)
    _right = _rng.choice(np.flatnonzero(y_pred == y_test), 4, replace=False)
    _wrong = np.flatnonzero(y_pred != y_test)
    _wrong = _rng.choice(_wrong, min(8, _wrong.size), replace=False)
    plot_predictions(X_test, y_test, y_pred, class_names, list(_right) + list(_wrong), features=F_test,
                     feature_names=feature_names,
                     show_features=["average_height_mm", "height_std_mm", "rectangularity", "compactness"]);

# %% [markdown]
# Most mistakes are boxes and "multiple". Two boxes side by side with the
# same height have the average height, the histogram and nearly the outline
# of one box: only the narrow gap between them tells, and no global feature
# sees a gap (the footprint even closes it). Boxes are also taken for
# envelopes (a thin box against a stiff envelope) and, when their top bulges
# or leans, for "multiple". The differences are in the *local* shape of the
# surface. A better feature for each case is possible (try yours!), but each
# needs design and programming effort, and each new case needs another: the
# lecture's "cons" of hand-crafted features. In 04 a CNN learns its features
# from the pixels instead.

# %% [markdown]
# ## Your feature in the classifier (not graded)
#
# Does `my_feature` (exercise 7) help the classifier? The cell below adds it
# as a 21st column, in variables of its own (`G_train`, `G_val`), fits the
# SVM with your `best_params` on them and compares the **validation**
# accuracy with and without it (the test split stays for the graded models).
# It takes your feature's values on the training maps from exercise 7's
# figure cell (run that cell again after you change `my_feature`) and
# computes them on the 1,000 validation maps, with a progress bar and the
# same 15 s stop. Try other features here the same way; leave `F_train`,
# `F_val`, `F_test`, `final_model` and `mlp_model` as they are: they are
# graded on the 20 shipped features. This cell needs exercises 7, 8 and 10.

# %%
if "_mine_train" not in globals():
    print("my_feature (exercise 7) is not written yet, or exercise 7's figure cell has not run.")
elif not exercise_10_done:
    print("Exercise 10 is not done yet: the comparison uses its best_params.")
else:
    _mine_val = feature_of_maps(my_feature, X_val, "my_feature, validation maps")
    _n, _m = len(_mine_train), len(_mine_val)     # fewer than all the maps where a stop cut them short
    G_train = np.column_stack([F_train[:_n], _mine_train])
    G_val = np.column_stack([F_val[:_m], _mine_val])
    _without = make_classifier(**best_params).fit(F_train[:_n], y_train[:_n]).score(F_val[:_m], y_val[:_m])
    _with = make_classifier(**best_params).fit(G_train, y_train[:_n]).score(G_val, y_val[:_m])
    print(f"validation accuracy of the SVM with {best_params}: {_without:.3f} with the 20 features, "
          f"{_with:.3f} with my_feature added"
          + ("" if (_n, _m) == (len(X_train), len(X_val)) else f" (the first {_n} training, {_m} validation maps)"))
