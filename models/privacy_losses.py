"""Privacy terms of the anonymization loss, as Keras loss functions ``fn(y_true, y_pred)``."""

from __future__ import annotations


def categorical_privacy(y_true, y_pred):
    """The published L_s = -(s . log(1 - s_hat) + log(1 - max s_hat)) for a categorical secret.

    Low when the adversary gives the true class, and its favourite class, little probability.
    ``y_true`` holds integer labels.
    """
    from keras import ops

    eps = 1e-6
    n = ops.shape(y_pred)[-1]
    s = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), n)
    true_term = ops.sum(s * ops.log(1.0 - y_pred + eps), axis=-1)
    max_term = ops.log(1.0 - ops.max(y_pred, axis=-1) + eps)
    return -(true_term + max_term)


def binary_privacy(y_true, y_pred):
    """Drive a two-class adversary towards the uninformative 0.5: cross-entropy to the uniform target."""
    from keras import ops

    eps = 1e-6
    return -ops.mean(ops.log(y_pred + eps), axis=-1) - ops.log(2.0)
