"""parcel_utils: the library behind the parcel course.

Modules (one responsibility each): ``data``, ``features``, ``convolution``,
``models``, ``augment``, ``viz``, ``checks``, ``course`` and ``cli``.
Import the one you need; this package imports none of them eagerly, so that
``import parcel_utils`` never pulls in TensorFlow.
"""
__version__ = "0.1.0"
