"""The Dask side of publishing: a cluster, the bundle on every worker, one task per recording.

``--workers N`` starts a local ``dask.distributed`` cluster of N single-threaded worker processes;
``--scheduler ADDRESS`` uses an existing cluster. The bundle travels to the workers as its files
(a few tens of kB) inside a worker plugin: each worker writes them to its local directory, loads
and verifies them (checksums, and the signature where bundles are signed) once, and keeps the
interpreter (one per worker thread: an interpreter is not thread-safe). A worker that dies is
replaced by its nanny and its tasks run again elsewhere; outputs are written atomically, so a
re-run task only rewrites the same bytes. Dask is the optional extra ``[publish]``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import distributed as dd  # this module is imported only when a cluster is asked for

from edge_runtime.errors import UserError

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle

PLUGIN_PREFIX = "edge-runtime-bundle-"


class BundlePlugin(dd.WorkerPlugin):
    """Carries a bundle's files to each worker, which loads and verifies them once in :meth:`setup`
    (signature included: against the worker's own trusted keys plus the public key that the driver
    verified this bundle's signature with)."""

    def __init__(self, bundle: Bundle):
        from edge_runtime.signing import SIGNATURE_FILE

        names = [*bundle.manifest["files"], "manifest.json"]
        names += [SIGNATURE_FILE] if (bundle.path / SIGNATURE_FILE).is_file() else []
        self.files = {name: (bundle.path / name).read_bytes() for name in names}
        signer = getattr(bundle, "signer", None)
        self.signer_key = Path(signer.source).read_bytes() if signer is not None and signer.source else None
        self.allow_unsigned = signer is not None and signer.key_id is None  # the driver let it through
        digest = hashlib.sha256(b"".join(self.files[n] for n in sorted(self.files))).hexdigest()[:16]
        self.name = PLUGIN_PREFIX + digest  # one plugin per exact set of bundle files
        self.bundle = None
        self._local = threading.local()

    def setup(self, worker) -> None:
        from edge_runtime.bundle import load_bundle
        from edge_runtime.signing import default_trust

        folder = Path(tempfile.mkdtemp(prefix="bundle-", dir=worker.local_directory))
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        keys = []
        if self.signer_key is not None:
            keys = [folder.with_name(folder.name + "-signer.pub")]
            keys[0].write_bytes(self.signer_key)
        trust = default_trust(keys, allow_unsigned=self.allow_unsigned)
        self.bundle = load_bundle(folder, trust=trust)  # verified here, on the worker, once

    def interpreter(self):
        """This thread's interpreter of the bundle (an interpreter is not thread-safe)."""
        interp = getattr(self._local, "interpreter", None)
        if interp is None:
            from edge_runtime.interpreter import TFLiteInterpreter

            interp = self._local.interpreter = TFLiteInterpreter.from_bundle(self.bundle)
        return interp

    def __getstate__(self):  # what travels to the workers: the files, nothing loaded
        return {"files": self.files, "name": self.name, "signer_key": self.signer_key,
                "allow_unsigned": self.allow_unsigned}

    def __setstate__(self, state):
        self.files, self.name = state["files"], state["name"]
        self.signer_key, self.allow_unsigned = state["signer_key"], state["allow_unsigned"]
        self.bundle, self._local = None, threading.local()


def run_on_worker(source, out_root: str, options, expect: dict | None, plugin_name: str) -> dict:
    """The Dask task: :func:`~edge_runtime.publish.task.run_task` with the worker's bundle."""
    from distributed import get_worker

    from edge_runtime.publish.task import run_task

    plugin = get_worker().plugins[plugin_name]
    result = run_task(plugin.bundle, plugin.interpreter(), source, out_root, options, expect)
    result["worker"] = get_worker().address
    return result


@contextmanager
def client_for(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: on a new local cluster of ``workers`` processes, or on ``scheduler``'s cluster."""
    if scheduler:
        try:
            client = dd.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, dd.Client(cluster) as client:
        yield client
