"""Unit tests of the checks added for 04_cnn: validation-split selection and disjoint rows."""
import numpy as np
import pytest

from parcel_utils.checks import check_disjoint_rows, check_selected_on_validation


def test_check_disjoint_rows():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 4, 4, 1)).astype(np.float32)
    B = rng.normal(size=(10, 4, 4, 1)).astype(np.float32)
    check_disjoint_rows(A, B)
    with pytest.raises(AssertionError, match="2 sample"):
        check_disjoint_rows(np.concatenate([A, B[:2]]), B)
    with pytest.raises(ValueError, match="same size"):
        check_disjoint_rows(A, B[:, :2])


class _Model:
    """evaluate() returns a fixed loss per split, as a compiled Keras model would."""
    def __init__(self, losses):
        self.losses = losses

    def evaluate(self, X, y, verbose=0):
        return [self.losses[id(X)], 0.9]


def test_check_selected_on_validation():
    X_val, X_test = np.zeros(3), np.ones(3)
    model = _Model({id(X_val): 0.30, id(X_test): 0.45})
    check_selected_on_validation(model, {"val_loss": [0.5, 0.30, 0.31]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="test split"):
        check_selected_on_validation(model, {"val_loss": [0.6, 0.45]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="restore the best checkpoint"):
        check_selected_on_validation(model, {"val_loss": [0.6, 0.2]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="validation_data"):
        check_selected_on_validation(model, {"loss": [0.6]}, X_val, None, X_test, None)
