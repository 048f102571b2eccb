"""Keras helpers the parameter-counting notebook (02_parameters) uses: build a model, read one.

Nothing here counts what an exercise asks for.  The helpers build models
the notebook shows but does not ask for (the lecture's "very simple CNN",
a stack of layers described by a list of tuples, ``keras.applications``
models), print a model as a table (the numbers Keras itself reports), or
turn a model a student's code built into numbers a grader can compare
(:func:`model_signature`, :func:`case_model`).

A stack of layers is described as in the notebook's exercise 2: one tuple
per layer, ``("conv", n_filters, kernel[, stride[, padding]])``,
``("pool", size[, stride[, padding]])``, ``("flatten",)`` or
``("dense", units)``.

Keras is imported inside the functions that need it: importing this module
does not start TensorFlow.

Example
-------
>>> model = build_stack((8, 8, 1), [("conv", 2, 3), ("flatten",), ("dense", 4)])  # doctest: +SKIP
>>> [row[1:] for row in layer_table(model)]  # doctest: +SKIP
[('Conv2D', (6, 6, 2), 20), ('Flatten', (72,), 0), ('Dense', (4,), 292)]
"""
from __future__ import annotations

import gc
import numbers

import numpy as np

__all__ = ["flat_layers", "layer_output_shape", "layer_table", "build_stack", "build_simple_cnn",
           "case_model", "SIGNATURE_LAYERS", "SIGNATURE_ACTIVATIONS", "SIGNATURE_PADDINGS", "signature_row",
           "model_signature", "LECTURE_APPLICATIONS_TABLE", "applications_table", "require_keras_model"]

_SPEC_HELP = ("a layer spec is ('conv', n_filters, kernel[, stride[, padding]]), "
              "('pool', size[, stride[, padding]]), ('flatten',) or ('dense', units)")


def require_keras_model(model):
    """Raise ``TypeError`` unless ``model`` is a built Keras model (has ``layers`` and ``count_params``).

    Example
    -------
    >>> require_keras_model([1, 2])
    Traceback (most recent call last):
    ...
    TypeError: `model` must be a built Keras model, got a list.
    """
    if not hasattr(model, "layers") or not hasattr(model, "count_params"):
        raise TypeError(f"`model` must be a built Keras model, got a {type(model).__name__}.")


def _shape(shape, name="input_shape"):
    if (not isinstance(shape, (tuple, list)) or len(shape) not in (1, 3)
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape)):
        raise ValueError(f"`{name}` must be (height, width, depth) or (n,) of positive ints without the batch "
                         f"axis, got {shape!r}.")
    return tuple(int(s) for s in shape)


# ------------------------------------------------------------------ reading a built model
def flat_layers(model):
    """The layers of a model, nested models expanded, input layers left out."""
    import keras   # Keras/TensorFlow: seconds to import

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(sub for sub in flat_layers(layer) if sub not in out)
        elif type(layer).__name__ != "InputLayer" and layer not in out:
            out.append(layer)
    return out


def layer_output_shape(layer):
    """The output shape of a layer of a built model, batch axis left out."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError) as err:
        raise ValueError(f"layer {layer.name!r} has no single output shape (it is not built, or "
                         f"it is used more than once); build the model on a keras.Input first.") from err
    return tuple(shape[1:])


def layer_table(model):
    """One row per layer, as Keras reports it: ``(name, class name, output shape, parameters)``.

    A deterministic alternative to ``model.summary()`` (no widths, no
    colours).  The input layer is left out, as in ``model.summary()`` of a
    Sequential; nested models are expanded.

    Example
    -------
    >>> [row[1:] for row in layer_table(build_simple_cnn())]  # doctest: +SKIP
    [('Conv2D', (26, 26, 64), 640), ('Flatten', (43264,), 0), ('Dense', (10,), 432650)]
    """
    require_keras_model(model)
    return [(layer.name, type(layer).__name__, layer_output_shape(layer), int(layer.count_params()))
            for layer in flat_layers(model)]


# ------------------------------------------------------------------ building models
def _check_spec(spec, i):
    if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in ("conv", "pool", "flatten", "dense"):
        raise ValueError(f"cannot read layer {i}, {spec!r}: {_SPEC_HELP}.")
    arity = {"conv": (3, 5), "pool": (2, 4), "flatten": (1, 1), "dense": (2, 2)}[spec[0]]
    if not arity[0] <= len(spec) <= arity[1]:
        raise ValueError(f"cannot read layer {i}, {spec!r}: {_SPEC_HELP}.")


def build_stack(input_shape, layers, name="stack"):
    """A Keras Sequential model from a stack of layer specs (see the module docstring).

    ``conv`` becomes ``Conv2D`` (relu), ``pool`` ``MaxPooling2D``,
    ``flatten`` ``Flatten`` and ``dense`` ``Dense`` (relu).  Layers are
    named ``layer_0``, ``layer_1``, ... so that the model does not depend on
    what was built before.

    Example
    -------
    >>> build_stack((8, 8, 1), [("conv", 2, 3), ("flatten",), ("dense", 4)]).count_params()  # doctest: +SKIP
    312
    """
    import keras   # Keras/TensorFlow: seconds to import
    from keras import layers as L   # Keras/TensorFlow: seconds to import

    shape = _shape(input_shape)
    if not isinstance(layers, (list, tuple)):
        raise ValueError(f"`layers` must be a list of layer specs; {_SPEC_HELP}.")
    stack = [keras.Input(shape=shape)]
    for i, spec in enumerate(layers):
        _check_spec(spec, i)
        n = f"layer_{i}"
        if spec[0] == "conv":
            stack.append(L.Conv2D(spec[1], spec[2], strides=spec[3] if len(spec) > 3 else 1,
                                  padding=spec[4] if len(spec) > 4 else "valid", activation="relu", name=n))
        elif spec[0] == "pool":
            stack.append(L.MaxPooling2D(spec[1], strides=spec[2] if len(spec) > 2 else None,
                                        padding=spec[3] if len(spec) > 3 else "valid", name=n))
        elif spec[0] == "flatten":
            stack.append(L.Flatten(name=n))
        else:
            stack.append(L.Dense(spec[1], activation="relu", name=n))
    try:
        return keras.Sequential(stack, name=name)
    except ValueError as err:
        raise ValueError(f"the stack {list(layers)!r} does not fit a {shape} input: {err}") from err


def build_simple_cnn(input_shape=(28, 28, 1), num_classes=10, pool=False):
    """The lecture's "very simple CNN": Conv2D(64, 3x3, relu) - Flatten - Dense(softmax).

    ``pool=True`` adds the ``MaxPooling2D(2)`` after the convolution that
    the slide's code has and its ``model.summary()`` does not.

    Example
    -------
    >>> build_simple_cnn().count_params()  # doctest: +SKIP
    433290
    """
    import keras   # Keras/TensorFlow: seconds to import
    from keras import layers   # Keras/TensorFlow: seconds to import

    input_shape = _shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
    stack = [keras.Input(shape=input_shape), layers.Conv2D(64, 3, activation="relu", name="conv2d")]
    if pool:
        stack.append(layers.MaxPooling2D(pool_size=(2, 2), name="max_pooling2d"))
    stack += [layers.Flatten(name="flatten"), layers.Dense(int(num_classes), activation="softmax", name="dense")]
    return keras.Sequential(stack, name="simple_cnn")


_BUILT = {}


def case_model(spec, known=None):
    """The Keras model a hidden test's case names: a name, or an ``(input_shape, layers)`` stack.

    Names: ``"vgg16"`` (``keras.applications.VGG16(weights=None)``) and
    ``"simple_cnn"`` (:func:`build_simple_cnn`); a stack is built with
    :func:`build_stack`.  ``known`` maps names to models the notebook already
    built (VGG16 takes seconds and 550 MB); every model is built once.
    """
    if isinstance(spec, str):
        if known and spec in known:
            return known[spec]
        builders = {"vgg16": lambda: _keras_application("VGG16"), "simple_cnn": build_simple_cnn}
        if spec not in builders:
            raise ValueError(f"unknown model {spec!r}; expected one of {sorted(builders)} or a layer stack.")
        key, build = spec, builders[spec]
    else:
        key, build = repr(spec), (lambda: build_stack(*spec))
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


def _keras_application(name):
    import keras   # Keras/TensorFlow: seconds to import

    return getattr(keras.applications, name)(weights=None)


# ------------------------------------------------------------------ a model as numbers
#: Layer classes, activations and paddings a signature names by their index; anything else gets the next code.
SIGNATURE_LAYERS = ("Conv2D", "AveragePooling2D", "MaxPooling2D", "Flatten", "Dense")
SIGNATURE_ACTIVATIONS = ("", "linear", "relu", "tanh", "sigmoid", "softmax")
SIGNATURE_PADDINGS = ("", "valid", "same")


def _code(names, name):
    return names.index(name) if name in names else len(names)


def _pair_ints(value):
    if value is None:
        return [0, 0]
    if isinstance(value, (int, np.integer)):
        return [int(value)] * 2
    return [int(v) for v in tuple(value)[:2]] + [0] * max(0, 2 - len(tuple(value)))


def signature_row(kind, activation, padding, window, strides, shape, params):
    """One row of :func:`model_signature`: 12 ints.

    Example
    -------
    >>> signature_row("Conv2D", "tanh", "valid", (5, 5), (1, 1), (28, 28, 6), 156)
    [0, 3, 1, 5, 5, 1, 1, 3, 28, 28, 6, 156]
    """
    shape = tuple(int(v) for v in shape)
    return [_code(SIGNATURE_LAYERS, kind), _code(SIGNATURE_ACTIVATIONS, activation),
            _code(SIGNATURE_PADDINGS, padding), *_pair_ints(window), *_pair_ints(strides),
            len(shape), *(list(shape) + [0, 0, 0])[:3], int(params)]


def model_signature(model):
    """A Keras model as one row of ints per layer (input layers left out, nested models expanded).

    Each row: layer class, activation, padding (codes in
    :data:`SIGNATURE_LAYERS`, :data:`SIGNATURE_ACTIVATIONS`,
    :data:`SIGNATURE_PADDINGS`), kernel or pool size (rows, cols), strides,
    the rank of the output, its sizes (batch axis left out, padded with 0
    to three) and the layer's parameters, as Keras reports them.

    Example
    -------
    >>> model_signature(build_simple_cnn())[0].tolist()  # doctest: +SKIP
    [0, 2, 1, 3, 3, 1, 1, 3, 26, 26, 64, 640]
    """
    require_keras_model(model)
    rows = []
    for layer in flat_layers(model):
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        rows.append(signature_row(type(layer).__name__, activation, getattr(layer, "padding", "") or "",
                                  window, getattr(layer, "strides", None), layer_output_shape(layer),
                                  layer.count_params()))
    return np.array(rows, dtype=np.int64).reshape(len(rows), 12)


# ------------------------------------------------------------------ keras.applications against the lecture
#: The lecture's table "Available models" (from keras.io/api/applications):
#: name -> (size of the weight file in MB, parameters in millions, depth).
LECTURE_APPLICATIONS_TABLE = {
    "Xception": (88, 22.9, 81),
    "VGG16": (528, 138.4, 16),
    "VGG19": (549, 143.7, 19),
    "ResNet50": (98, 25.6, 107),
    "ResNet50V2": (98, 25.6, 103),
    "ResNet101": (171, 44.7, 209),
    "ResNet101V2": (171, 44.7, 205),
    "ResNet152": (232, 60.4, 311),
    "ResNet152V2": (232, 60.4, 307),
    "InceptionV3": (92, 23.9, 189),
    "InceptionResNetV2": (215, 55.9, 449),
    "MobileNet": (16, 4.3, 55),
    "MobileNetV2": (14, 3.5, 105),
    "DenseNet121": (33, 8.1, 242),
    "DenseNet169": (57, 14.3, 338),
    "DenseNet201": (80, 20.2, 402),
    "NASNetMobile": (23, 5.3, 389),
    "NASNetLarge": (343, 88.9, 533),
    "EfficientNetB0": (29, 5.3, 132),
}


def applications_table(names, models=None):
    """Build ``keras.applications`` models with ``weights=None`` and count them.

    Parameters
    ----------
    names : list of str
        Names from :data:`LECTURE_APPLICATIONS_TABLE`.
    models : dict, optional
        ``name -> already built model``, to reuse (e.g. the VGG16 the notebook
        built once).  Other models are built one at a time and released.

    Returns
    -------
    list of dict
        One row per model: ``name``, ``params`` (exact), ``params_m`` (in
        millions, rounded to 0.1 as in the lecture), ``depth`` (layers that
        hold weights), ``float32_mib`` (``params * 4 / 2**20``) and the
        lecture's ``lecture_params_m``, ``lecture_depth``, ``lecture_size_mb``.
    """
    models = dict(models or {})
    rows = []
    for name in names:
        if name not in LECTURE_APPLICATIONS_TABLE:
            raise ValueError(f"unknown model {name!r}; use one of {sorted(LECTURE_APPLICATIONS_TABLE)}.")
        model = models.get(name)
        built_here = model is None
        if built_here:
            model = _keras_application(name)
        params = int(model.count_params())
        depth = sum(1 for layer in flat_layers(model) if layer.weights)
        size, lect_params, lect_depth = LECTURE_APPLICATIONS_TABLE[name]
        rows.append(dict(name=name, params=params, params_m=round(params / 1e6, 1), depth=depth,
                         float32_mib=round(params * 4 / 2**20, 1), lecture_params_m=lect_params,
                         lecture_depth=lect_depth, lecture_size_mb=size))
        if built_here:
            del model
            gc.collect()
    return rows
