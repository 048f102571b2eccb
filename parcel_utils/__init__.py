"""parcel_utils: the student package of the parcel course.

What a notebook imports, and nothing that computes an exercise's answer:
``data`` (the parcel depth maps, their splits, and the hand-crafted features
of the splits shipped as data), ``viz`` (the figures), ``backbone`` (the
pretrained feature extractor and its weights), ``augment`` (the layers a
notebook gives), ``keras_tools`` (Keras helpers that are not exercises), ``shapes`` (the
drawn maps the tests of 03 use),
``checks`` (the visible tests' helpers) and ``attest`` (what a hidden test
calls while it is graded).  The reference answers, the hidden tests' inputs
and the grader are the instructor's (``parcel_course``), never installed by
students.  Import the module you need; this package imports none of them
eagerly, so that ``import parcel_utils`` never pulls in TensorFlow.
"""
__version__ = "0.1.0"
