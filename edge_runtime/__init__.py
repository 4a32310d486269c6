"""On-device privacy runtime for wearable motion data.

This package is what runs on the phone or the board: numpy and the LiteRT interpreter only,
never TensorFlow. Workstation code (training, conversion) lives in ``models`` and ``converters``.
"""

__version__ = "0.1.0"
