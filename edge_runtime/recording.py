"""The runtime's one door to the recording format, which the protocol layer owns.

``firmware_bridge.recording`` defines the CSV (capture writes it, the emulator plays it); the
engine, the offline transform and the gateway read it through here, so the only import of the bridge
outside ``edge_runtime/gateway`` is this one, and a malformed file surfaces as our
:class:`~edge_runtime.errors.DataError` like every other bad input.
"""

from __future__ import annotations

import functools

from edge_runtime.errors import DataError
from firmware_bridge import recording as _format
from firmware_bridge.errors import RecordingError
from firmware_bridge.recording import (COLUMNS, HEADER, MOTIONSENSE_COLUMNS, MOTIONSENSE_RATE, Recording,
                                       RecordingWriter, write_recording)


def _as_data_error(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecordingError as exc:
            raise DataError(str(exc)) from None

    return wrapper


read_recording = _as_data_error(_format.read_recording)
parse_recording = _as_data_error(_format.parse_recording)
load_samples = _as_data_error(_format.load_samples)
parse_motionsense_csv = _as_data_error(_format.parse_motionsense_csv)

__all__ = ["COLUMNS", "HEADER", "MOTIONSENSE_COLUMNS", "MOTIONSENSE_RATE", "Recording", "RecordingWriter",
           "load_samples", "parse_motionsense_csv", "parse_recording", "read_recording", "write_recording"]
