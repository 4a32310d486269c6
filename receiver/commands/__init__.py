"""``edge-runtime receive`` and ``edge-runtime analyse`` (registered in ``edge_runtime/cli.py``)."""
