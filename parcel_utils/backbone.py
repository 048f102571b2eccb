"""The course's offline pretrained backbone, and the latent space.

ImageNet weights cannot be downloaded offline (nor in a grading sandbox), so
the package ships its own pretrained feature extraction network (FEN): a
``keras.applications.MobileNetV2`` (``alpha=0.35``, the smallest width Keras
offers) pretrained on a *source task* of its own: not the parcel task, but a
related synthetic task built from the same shape and sensor models (see
the model card): scenes of one to four everyday objects of sixteen kinds (cartons,
trays, slabs, sheets, sacks, cans, logs, tyres, ...) seen by the parcel
sensor, labelled with the kind of the largest object, the number of objects
and a thickness bin (:mod:`parcel_utils.objects`).  The lecture's
transfer-learning recipe then applies: remove the top, add a new head,
freeze the FEN, train the head, fine-tune with a low learning rate.

* :func:`build_backbone` -- the architecture, depth maps in millimetres in,
  a global-average-pooled feature vector out.
* :func:`load_backbone` -- the architecture with weights by name
  (``"everyday-objects"``, bundled; ``"imagenet"``, needs Keras' download or
  cache) or from a path.
* the pretraining that made the bundled weights is the instructor's
  (``python -m parcel_course.pretrain --train``, see ``weights/MODEL_CARD.md``).
* :func:`extract_features` -- the backbone as a feature extractor: the
  latent representation of each map.

Example
-------
>>> fen = build_backbone((48, 48, 1))
>>> fen.output_shape
(None, 1280)
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

__all__ = [
    "INPUT_SIZE", "HEIGHT_SCALE_MM", "WEIGHTS_DIR", "BUNDLED", "DEFAULT_WEIGHTS",
    "build_backbone", "load_backbone", "extract_features", "ALPHA", "OfflineWeightsError",
]

#: Side in pixels of the maps the bundled weights were pretrained on.
INPUT_SIZE = 64
#: Heights are divided by this (mm) inside the network: 0..300 mm -> 0..2.
HEIGHT_SCALE_MM = 150.0
#: MobileNetV2 width multiplier of the bundled weights.
ALPHA = 0.35
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Weights the package bundles, by name.
BUNDLED = {"everyday-objects": WEIGHTS_DIR / "everyday_objects_mobilenetv2_a035.weights.h5"}
#: The bundled weights :func:`load_backbone` takes by default.
DEFAULT_WEIGHTS = "everyday-objects"


class OfflineWeightsError(RuntimeError):
    """Weights that must be downloaded could not be, and none are cached."""


# --------------------------------------------------------------------------
# Architecture and loading
# --------------------------------------------------------------------------
def _check_input_shape(input_shape):
    if input_shape is None:
        return (INPUT_SIZE, INPUT_SIZE, 1)
    shape = tuple(input_shape)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or shape[2] != 1 or min(shape[:2]) < 32:
        raise ValueError(
            f"`input_shape` should be (H, W) or (H, W, 1) with H, W >= 32 (single-channel depth maps), "
            f"got {input_shape!r}.")
    return tuple(int(d) for d in shape)


def build_backbone(input_shape=None, alpha=ALPHA, channels=1, name="backbone"):
    """MobileNetV2 feature extraction network for depth maps in millimetres.

    The model is flat (its ``layers`` are the MobileNetV2 layers, so
    ``for layer in model.layers[:k]: layer.trainable = False`` works as in
    the lecture): ``Input(H, W, 1)`` in mm -> ``Rescaling(1/HEIGHT_SCALE_MM)``
    (-> 3 channels for ImageNet) -> MobileNetV2 without top -> global average
    pooling.  Weights are random; use :func:`load_backbone` for pretrained ones.

    Parameters
    ----------
    input_shape : tuple, default (INPUT_SIZE, INPUT_SIZE, 1)
    alpha : float, default 0.35
        MobileNetV2 width multiplier.
    channels : {1, 3}
        Channels the MobileNetV2 sees: 1 for the bundled weights, 3 to take
        ImageNet weights (the depth map is repeated and put in [-1, 1]).
    name : str

    Returns
    -------
    keras.Model
        Output shape (None, F), F = 1280 for alpha <= 1.

    Example
    -------
    >>> m = build_backbone((48, 48, 1))
    >>> m.output_shape
    (None, 1280)
    """
    import keras   # Keras/TensorFlow: seconds to import
    from keras import layers   # Keras/TensorFlow: seconds to import

    input_shape = _check_input_shape(input_shape)
    inp = keras.Input(input_shape, name="depth_mm")
    if channels == 1:
        x = layers.Rescaling(1.0 / HEIGHT_SCALE_MM, name="mm_to_unit")(inp)
    elif channels == 3:
        x = layers.Rescaling(2.0 / (2 * HEIGHT_SCALE_MM), offset=-1.0, name="mm_to_unit")(inp)
        x = layers.Concatenate(name="to_rgb")([x, x, x])
    else:
        raise ValueError(f"`channels` should be 1 or 3, got {channels!r}.")
    return keras.applications.MobileNetV2(
        input_tensor=x, alpha=alpha, include_top=False, weights=None, pooling="avg", name=name)


def _imagenet_weights(input_shape, alpha, cache_dir=None):
    """Path of ImageNet MobileNetV2 weights (no top), downloading if possible."""
    import keras   # Keras/TensorFlow: seconds to import

    size = 224 if min(input_shape[:2]) > 192 else max(s for s in (96, 128, 160, 192) if s <= max(min(input_shape[:2]), 96))
    fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{size}_no_top.h5"
    url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + fname
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):      # Keras' "Downloading data from ...": shown only on success
            path = keras.utils.get_file(fname, url, cache_subdir="models", cache_dir=cache_dir)
        print(said.getvalue(), end="")
        return path
    except Exception as exc:  # no network, DNS failure, proxy, ...
        raise OfflineWeightsError(
            f"Could not download the ImageNet weights of MobileNetV2 ({fname}): this machine seems to be "
            f"offline and Keras has no cached copy in {cache_dir or '~/.keras'}/models. Use the weights bundled with the "
            f"course instead: load_backbone(weights=\"everyday-objects\"). (Cause: {type(exc).__name__}.)"
        ) from None


def load_backbone(weights=DEFAULT_WEIGHTS, input_shape=None, trainable=True, name="backbone",
                  cache_dir=None):
    """The pretrained feature extraction network.

    Parameters
    ----------
    weights : str or path-like, default "everyday-objects"
        ``"everyday-objects"``: the weights bundled with the package,
        pretrained on :func:`parcel_utils.objects.make_object_scenes` (see ``weights/MODEL_CARD.md``).
        ``"imagenet"``: Keras' ImageNet weights (MobileNetV2, alpha=0.35);
        needs the network or Keras' cache, and raises
        :class:`OfflineWeightsError` naming the bundled alternative otherwise.
        A path to a ``.weights.h5`` file saved from :func:`build_backbone`.
        ``None``: random initialisation.
    input_shape : tuple, default (64, 64, 1)
        Depth maps in mm; the network is convolutional, so other sizes
        (>= 32) work, though the bundled weights saw 64 x 64 maps.
    trainable : bool, default True
        Initial ``trainable`` flag of the model (freeze it for transfer
        learning with ``trainable=False`` or ``model.trainable = False``).
    name : str
    cache_dir : path, optional
        Where Keras caches downloads for ``"imagenet"`` (default
        ``$KERAS_HOME`` or ``~/.keras``).

    Returns
    -------
    keras.Model
        ``(None, H, W, 1)`` mm -> ``(None, 1280)`` features.

    Raises
    ------
    OfflineWeightsError
        ``weights="imagenet"`` on a machine that cannot download them and has
        no cached copy.

    Example
    -------
    >>> fen = load_backbone("everyday-objects", input_shape=(48, 48, 1))
    >>> fen.output_shape
    (None, 1280)
    """
    input_shape = _check_input_shape(input_shape)
    if weights is None:
        model = build_backbone(input_shape, name=name)
    elif isinstance(weights, str) and weights == "imagenet":
        path = _imagenet_weights(input_shape, ALPHA, cache_dir)
        model = build_backbone(input_shape, channels=3, name=name)
        # the MobileNetV2 part of the model is the applications model itself
        import keras   # Keras/TensorFlow: seconds to import
        ref = keras.applications.MobileNetV2(input_shape=(input_shape[0], input_shape[1], 3), alpha=ALPHA,
                                             include_top=False, weights=path, pooling="avg")
        for layer in ref.layers:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())
    else:
        if isinstance(weights, str) and weights in BUNDLED:
            path = BUNDLED[weights]
            if not path.exists():
                raise FileNotFoundError(
                    f"The bundled weights file {path} is missing from the installation; rebuild it with "
                    f"`python -m parcel_course.pretrain --train` (the instructor's package).")
        elif isinstance(weights, (str, os.PathLike)) and Path(weights).suffix == ".h5":
            path = Path(weights)
            if not path.exists():
                raise FileNotFoundError(f"`weights` names the file {path}, which does not exist.")
        else:
            raise ValueError(
                f"`weights` should be one of {sorted(BUNDLED) + ['imagenet']}, None, or a path to a "
                f".weights.h5 file, got {weights!r}.")
        model = build_backbone(input_shape, name=name)
        model.load_weights(path)
    model.trainable = bool(trainable)
    return model


# --------------------------------------------------------------------------
# Latent space
# --------------------------------------------------------------------------
def extract_features(fen, X, batch_size=256):
    """Feed depth maps (N, H, W) or (N, H, W, 1) through ``fen``; (N, F) float32."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4:
        raise ValueError(f"`X` should be a batch of depth maps (N, H, W) or (N, H, W, 1), got shape {X.shape}.")
    return np.asarray(fen.predict(X, batch_size=batch_size, verbose=0), dtype=np.float32)
