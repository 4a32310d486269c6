"""Custom Keras layers of the privacy transforms, registered so saved runs load anywhere.

Load saved transforms with :func:`load_transform`, which has them registered (the converter and the
evaluation do).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="privacy_transforms")
class ClassTemplates(keras.layers.Layer):
    """Class probabilities ``[n, classes]`` -> the template window of the most probable class.

    The templates ``[classes, window, channels]`` are fixed weights (saved with the model); only the
    argmax of the probabilities reaches the output, so nothing else of the input can.
    """

    def __init__(self, classes: int, window: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.classes, self.window, self.channels = classes, window, channels
        self.templates = self.add_weight(shape=(classes, window, channels), initializer="zeros",
                                         trainable=False, name="templates")

    def call(self, probs):
        # TensorFlow's own ops: Keras' argmax/take add sign-of-zero and negative-index handling that
        # converts to ops outside the TFLite builtins; these two convert to ARG_MAX and GATHER
        import tensorflow as tf

        return tf.gather(self.templates, tf.argmax(probs, axis=-1, output_type=tf.int32))

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "window": self.window, "channels": self.channels}


def load_transform(path):
    """A saved transform model (``transform.keras``), its custom layers registered by this module."""
    return keras.models.load_model(path, compile=False)
