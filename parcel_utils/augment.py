"""Augmentation for depth maps: what the notebooks give (a Keras layer, the symmetries of the square).

The lecture's criterion: *augmented versions should preserve the input label*.
On a depth map "label-preserving" also means "a map the sensor could have
produced" (``DATASET.md``, "Sensor model"): the camera sits beside the laser
plane, so occlusion shadows fall on the **+x side** (right in the images) of
every step, and flying pixels lie along x.  Of the eight symmetries of the
square only the identity and the up-down flip (``flipud``, the rows reversed)
keep the shadows on +x; a left-right flip, a transpose or a rotation (by 90
degrees or any angle) puts them where the sensor never does.  The items
already lie in every orientation on the belt (their orientation is uniform),
so rotations add no orientation the data lacks, only impossible shadows.
Translations keep the label; the belt (and "no measurement") reads 0, so
whatever enters the frame is filled with 0, never reflected.  Size and height
are class evidence (an envelope is 5-45 mm thick, a box 20-300 mm high,
log-uniform, so thin boxes and thick envelopes overlap:
``parcel_utils.data._params``), so zoom and the "contrast" of a depth map, a
gain on its heights, stay small.

"Contrast" on depth maps.  ``keras.layers.RandomContrast`` computes
``(x - mean) * f + mean`` per image and clips to ``value_range`` (default
0-255): on heights in mm it would lift the belt (0, "no measurement") to
non-zero values, shift every height by the image mean, and clip tall
parcels at 255 mm.  The photometric change that does occur on a depth
sensor is a calibration gain, heights times ``1 + e``, which keeps 0 at 0:
:class:`RandomHeightScale` does that.

* :class:`RandomHeightScale` -- the depth-map "contrast" layer.
* :data:`AUGMENTATION_LAYER_TYPES` -- the layer classes 04's augmentation
  stacks, in order (what its visible test compares with).
* :data:`SENSOR_TRANSFORMS` -- the exact transforms the sensor can produce
  (identity, ``flipud``), for test-time augmentation.
* :data:`D4_TRANSFORMS` -- all 8 symmetries of the square (six of them make
  maps the sensor cannot produce: there to compare with).

Example
-------
>>> import numpy as np
>>> x = np.arange(4.0).reshape(1, 2, 2, 1)
>>> len(D4_TRANSFORMS), D4_TRANSFORMS[1](x)[0, :, :, 0].tolist()
(8, [[1.0, 0.0], [3.0, 2.0]])
>>> [t.__name__ for t in SENSOR_TRANSFORMS], SENSOR_TRANSFORMS[1](x)[0, :, :, 0].tolist()
(['_identity', '_flipud'], [[2.0, 3.0], [0.0, 1.0]])
"""
from __future__ import annotations

import numpy as np

__all__ = ["RandomHeightScale", "AUGMENTATION_LAYER_TYPES", "SENSOR_TRANSFORMS", "D4_TRANSFORMS"]

#: Class names of the layers of 04's label-preserving augmentation, in order: a flip up-down only
#: (``RandomFlip("vertical")``), no rotation (the sensor's shadows fall on +x: see the module's docstring).
AUGMENTATION_LAYER_TYPES = ("RandomFlip", "RandomTranslation", "RandomZoom", "RandomHeightScale")


def _keras():
    import keras   # Keras/TensorFlow: seconds to import
    return keras


def _height_scale_class():
    keras = _keras()

    @keras.saving.register_keras_serializable(package="parcel_utils")
    class RandomHeightScale(keras.layers.Layer):
        """Multiply every height by a random gain ``1 + e``, ``e ~ U(-factor, factor)``.

        The depth-map counterpart of ``RandomContrast``: 0 (belt, no
        measurement) stays 0, heights scale around 0 mm.  One gain per image.
        Like Keras' augmentation layers it is active when called directly
        (``layer(x)``, as in the lecture's ``augmentationNet(X_train)``) and
        during ``fit``, and the identity in ``predict``/``evaluate`` or with
        ``training=False``.

        Parameters
        ----------
        factor : float in [0, 1)
        seed : int or None
        """

        def __init__(self, factor=0.1, seed=None, **kwargs):
            super().__init__(**kwargs)
            if not 0 <= float(factor) < 1:
                raise ValueError(f"`factor` should be a float in [0, 1), got {factor!r}.")
            self.factor = float(factor)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.supports_masking = True

        def call(self, inputs, training=True):  # like Keras' augmentation layers
            if not training or self.factor == 0:
                return inputs
            ops = keras.ops
            shape = ops.shape(inputs)
            gain = keras.random.uniform((shape[0], 1, 1, 1), 1 - self.factor, 1 + self.factor,
                                        seed=self.seed_generator)
            return inputs * ops.cast(gain, inputs.dtype)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "factor": self.factor, "seed": self.seed}

    return RandomHeightScale


_CLASS = None


def __getattr__(name):  # lazy: `import parcel_utils.augment` must not import TensorFlow
    global _CLASS
    if name == "RandomHeightScale":
        if _CLASS is None:
            _CLASS = _height_scale_class()
        return _CLASS
    raise AttributeError(f"module 'parcel_utils.augment' has no attribute {name!r}")


# --------------------------------------------------------------------------
# Test-time augmentation
# --------------------------------------------------------------------------
def _identity(x):
    return x


def _fliplr(x):
    return x[:, :, ::-1]


def _flipud(x):
    return x[:, ::-1]


def _rot90(x):
    return np.rot90(x, 1, axes=(1, 2))


def _rot180(x):
    return np.rot90(x, 2, axes=(1, 2))


def _rot270(x):
    return np.rot90(x, 3, axes=(1, 2))


def _transpose(x):
    return np.swapaxes(x, 1, 2)


def _antitranspose(x):
    return np.rot90(np.swapaxes(x, 1, 2), 2, axes=(1, 2))


#: The 8 symmetries of the square (rotations by 90 degrees and flips) of a batch (N, H, W[, C]): exact, no
#: interpolation. Only the first and the third (identity, flipud) keep the sensor's shadows on +x.
D4_TRANSFORMS = (_identity, _fliplr, _flipud, _rot90, _rot180, _rot270, _transpose, _antitranspose)

#: The transforms the sensor can produce (shadows stay on +x): the identity and the up-down flip.
SENSOR_TRANSFORMS = (_identity, _flipud)
