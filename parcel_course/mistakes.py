"""Realistic student mistakes, one per assignment.

Used by the demo's simulated class and by the grading sanity tests: each
entry edits one answer cell of the reference solution (a plain text
replacement inside the cell whose nbgrader grade id is ``cell``) and names
the test cells that must then score zero (``loses``); every other autograded
test cell keeps full marks.
"""
MISTAKES: dict = {
    # "01_convolution": dict(notebook="convolution", cell="correlate2d",
    #                        find="...", replace="...", loses=["test_correlate2d"]),
    # A student who flips the filter computes a convolution where the exercise (and every CNN)
    # wants a correlation: all three tests of correlate2d fail, and so does convolve2d, which
    # builds on the student's correlate2d (flipping twice gives a correlation); nothing else does.
    "01_convolution": dict(notebook="convolution", cell="correlate2d",
                           find="w = np.asarray(kernel, dtype=float)\n",
                           replace="w = np.asarray(kernel, dtype=float)[::-1, ::-1]\n",
                           loses=["test_correlate2d_valid", "test_correlate2d_padding",
                                  "test_correlate2d_stride", "test_convolve2d"]),
    # A student who forgets the biases: conv2d_params returns the weights only (150 for the
    # lecture's 152). Its own test fails, and so does the RGB exercise, whose LeNet-5 count
    # the reference solution computes with conv2d_params; every other test uses Keras or
    # the reference and keeps its points.
    "02_parameters": dict(notebook="parameters", cell="conv2d_params",
                          find="return h * w * d * n_filters + (n_filters if bias else 0)",
                          replace="return h * w * d * n_filters",
                          loses=["test_conv2d_params", "test_mlp_rgb"]),
    # A student who averages the height over all pixels, the zeros included (missing
    # measurements and empty belt counted as height 0): only the average_height test fails;
    # the classifier uses the feature table shipped with the student package and keeps its points.
    "03_handcrafted": dict(notebook="handcrafted", cell="average_height",
                           find="measured = d[d > 0]\n",
                           replace="measured = d.ravel()\n",
                           loses=["test_average_height"]),
    # A student who aggregates the TTA posteriors with the max instead of the lecture's mean
    # (the rows no longer sum to 1, and the most confident transform wins): only the TTA test
    # fails; the accuracy cells use the reference tta_predict and keep their points.
    "04_cnn": dict(notebook="cnn", cell="tta_predict",
                   find="return P.mean(axis=0)",
                   replace="return P.max(axis=0)",
                   loses=["test_tta_predict"]),
}
