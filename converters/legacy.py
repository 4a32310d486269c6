"""Import Keras 2 models (the published research code's format) through tf_keras.

Two forms: ``MODEL.json+WEIGHTS.h5`` (architecture JSON and HDF5 weights) or one full ``MODEL.hdf5``
/ ``.h5`` saved by Keras 2.x. Such models often take ``[n, channels, window, 1]``; the layout is
detected from the model's input shape and wrapped by :mod:`converters.fuse`, so the bundle still takes
``[1, window, channels]`` like every other.
"""

from __future__ import annotations

from pathlib import Path

from converters.fuse import detect_layout
from edge_runtime.errors import UserError


def load_keras2(source: str):
    """``MODEL.json+WEIGHTS.h5`` or ``MODEL.hdf5`` -> a tf_keras model (not compiled)."""
    import tf_keras

    if "+" in source:
        arch, weights = (Path(p) for p in source.split("+", 1))
        for p in (arch, weights):
            if not p.is_file():
                raise UserError(f"{p}: no such file (expected MODEL.json+WEIGHTS.h5)")
        try:
            model = tf_keras.models.model_from_json(arch.read_text(encoding="utf-8"))
        except Exception as exc:  # tf_keras raises many types for a bad architecture
            raise UserError(f"{arch}: not a Keras 2 model JSON ({type(exc).__name__}: {exc})") from None
        try:
            model.load_weights(str(weights))
        except Exception as exc:
            raise UserError(f"{weights}: weights do not load into {arch.name} ({type(exc).__name__}: {exc})") from None
        return model
    path = Path(source)
    if not path.is_file():
        raise UserError(f"{path}: no such file (expected MODEL.hdf5 or MODEL.json+WEIGHTS.h5)")
    try:
        return tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise UserError(f"{path}: not a Keras 2 HDF5 model ({type(exc).__name__}: {exc})") from None


def infer_window_and_layout(input_shape: tuple, channels: int, window: int | None = None) -> tuple[int, str]:
    """From a model input shape and the feature set's channel count: (window, layout)."""
    dims = tuple(input_shape[1:])
    if window is None:
        if len(dims) == 3 and dims[0] == channels and dims[2] == 1 and dims[1]:
            window = dims[1]  # [n, channels, window, 1], the published layout
        elif len(dims) in (2, 3) and dims[1] == channels and dims[0] and (len(dims) == 2 or dims[2] == 1):
            window = dims[0]
        else:
            raise UserError(
                f"cannot tell the window from the model input shape {tuple(input_shape)} with {channels} channels; "
                "pass --window"
            )
    try:
        return window, detect_layout(tuple(input_shape), window, channels)
    except ValueError as exc:
        raise UserError(str(exc)) from None
