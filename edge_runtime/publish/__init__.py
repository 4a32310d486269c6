"""Offline publishing: a whole data set of recordings through the device's engine, on one core or a Dask cluster.

``edge-runtime transform --input 'DIR or glob' --output DIR [--workers N | --scheduler ADDRESS]``
lands here. A data set is a set of recordings (one person, one session); each is one task, streamed
through the same :class:`~edge_runtime.engine.Engine` as on the device and written, atomically, where
the input's layout says, next to a datasheet (``DATASET.md``/``DATASET.json``). Modules:

- :mod:`.sources`: what the input is (MotionSense zip/folder, folder or glob of CSV/Parquet recordings),
  and reading one recording with its checksum;
- :mod:`.formats`: transformed windows as CSV or Parquet (and raw recordings as Parquet);
- :mod:`.task`: one recording in, one transformed recording out (or why not);
- :mod:`.cluster`: the Dask side (optional extra ``[publish]``; never needed on a device);
- :mod:`.pipeline`: the run: plan, skip what is finished, progress, ledger, summary;
- :mod:`.datasheet`: what was published with which bundle, and what that bundle keeps and hides;
- :mod:`.motionsense_parquet`: the MotionSense zip as per-subject, per-trial Parquet recordings.
"""
