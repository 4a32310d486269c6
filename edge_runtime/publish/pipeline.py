"""A publishing run: every recording of a data set through the bundle, resumable, on one core or many.

1. :func:`~edge_runtime.publish.sources.discover` the recordings;
2. check the output folder: new, or a run of the same bundle and options to resume (its state lives
   in ``OUT/.edge-runtime/``: ``run.json``, the fingerprint, and ``ledger.jsonl``, one line per
   finished recording with its input's and output's SHA-256, appended by this process only);
3. run one task per recording, here or on Dask workers; a task whose ledger line still matches
   both files is skipped; a failing recording is reported with its reason and the rest go on; a
   recording shorter than one window has nothing to publish: it is reported and listed, not failed;
4. write the datasheet, remove temporary files a killed worker left, and (for ``OUT.zip``) pack.

Progress: recordings done / total, windows/s and the ETA, on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from edge_runtime.errors import UserError
from edge_runtime.publish import datasheet
from edge_runtime.publish.sources import Source, discover, sizes
from edge_runtime.publish.task import PARTIAL_MARK, SKIPPED_SAMPLES, Options, finished, run_task, skipped_samples_text

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle

STATE_DIR = ".edge-runtime"
RUN_FILE = "run.json"
LEDGER_FILE = "ledger.jsonl"


@dataclass
class Summary:
    out: Path
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    short: list[tuple[str, str]] = field(default_factory=list)  # shorter than one window: nothing to publish
    windows: int = 0  # transformed in this run
    dropped: int = 0  # windows the model failed on (all recordings of the data set)
    samples: dict[str, int] = field(default_factory=dict)  # input samples and those skipped (all recordings)
    seconds: float = 0.0

    @property
    def exit_status(self) -> int:
        nothing = self.short and not (self.done or self.skipped)  # every recording too short: say so
        return 1 if self.failed or self.dropped or nothing else 0

    def line(self) -> str:
        rate = f", {self.windows / self.seconds:,.0f} windows/s" if self.seconds > 0 and self.windows else ""
        text = (f"{self.out}: {self.done + self.skipped} of {self.total} recordings published "
                f"({self.done} transformed, {self.skipped} already done); {self.windows} windows in "
                f"{self.seconds:.1f} s{rate}")
        if self.dropped:
            text += f"; {self.dropped} windows dropped (the model failed on them)"
        if self.short:
            text += f"; {len(self.short)} recording(s) shorter than one window (not published)"
        if self.failed:
            text += f"; {len(self.failed)} recording(s) FAILED"
        skipped = skipped_samples_text(self.samples)
        return text + (f"\n{self.out}: {skipped}" if skipped else "")


def fingerprint(bundle: Bundle, options: Options, description: str) -> dict[str, Any]:
    """What makes two runs the same run (same bundle files, same options, same input)."""
    return {"bundle": bundle.id, "version": bundle.version,
            "model_sha256": bundle.manifest["files"][bundle.manifest["model"]["file"]],
            "options": asdict(options), "input": description}


def publish(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    bundle: Bundle,
    options: Options = Options(),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    quiet: bool = False,
    interpreter: Any = None,
) -> Summary:
    """Transform the data set at ``src`` (a folder, a glob, the MotionSense zip) into ``dst``."""
    dst = Path(dst).expanduser().resolve()
    description, sources = discover(src)
    as_zip = dst.suffix.lower() == ".zip"
    root = dst.with_name(dst.name + ".parts") if as_zip else dst
    if any(s.kind == "parquet" for s in sources):
        from edge_runtime.publish.formats import pyarrow

        pyarrow()  # a clear error now, rather than every Parquet recording failing for the same reason
    inside = [s for s in sources if _within(Path(s.path), root)]
    if inside:
        raise UserError(f"{dst}: the output lies inside the input ({inside[0].path}); choose another --output")
    if as_zip and dst.exists():
        if not force:
            raise UserError(f"{dst}: already exists (pass --force to overwrite)")
        dst.unlink()
    print_ = _printer(quiet)
    ledger = _prepare(root, fingerprint(bundle, options, description), force)
    if ledger:
        print_(f"{root}: resuming; {len(ledger)} recording(s) finished earlier are checked and skipped")
    summary = Summary(out=dst, total=len(sources))
    results: dict[str, dict] = {}
    start = time.perf_counter()
    with _progress(len(sources), quiet) as bar, open(root / STATE_DIR / LEDGER_FILE, "a", encoding="utf-8") as log, \
            _interrupted(summary, root, bar):
        for res in _execute(bundle, interpreter, sources, root, options, ledger, workers, scheduler):
            results[res["key"]] = res
            if res["status"] == "failed":
                summary.failed.append((res["key"], res["reason"]))
                bar.write(f"{res['key']}: FAILED: {res['reason']}", file=sys.stderr)
            elif res["status"] == "short":
                summary.short.append((res["key"], res["reason"]))
                bar.write(f"{res['key']}: not published: {res['reason']}", file=sys.stderr)
            elif res["status"] == "done":
                summary.done += 1
                summary.windows += res["windows"]
                entry = {k: res[k] for k in ("key", "input_sha256", "output", "output_sha256", "samples",
                                             "windows", "dropped", "samples_in", *SKIPPED_SAMPLES)}
                log.write(json.dumps(entry, sort_keys=True) + "\n")
                log.flush()  # one line per finished recording, visible to a run that resumes after a kill
            else:
                summary.skipped += 1
            summary.seconds = time.perf_counter() - start
            bar.set_postfix_str(f"{summary.windows / max(summary.seconds, 1e-9):,.0f} windows/s", refresh=False)
            bar.update(1)
    summary.seconds = time.perf_counter() - start
    _remove_partials(root)
    finished = [results[s.key] for s in sources if results.get(s.key, {}).get("status") in ("done", "skipped")]
    summary.dropped = sum(int(r.get("dropped", 0)) for r in finished)
    summary.samples = {k: sum(int(r.get(k, 0)) for r in finished) for k in ("samples_in", *SKIPPED_SAMPLES)}
    datasheet.write(root, bundle, options, description, finished, summary.failed, summary.short)
    if as_zip and not summary.failed:
        _pack(root, dst)
        shutil.rmtree(root)
    return summary


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def _printer(quiet: bool) -> Callable[[str], None]:
    return (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="rec", desc="transform", disable=quiet, file=sys.stderr, dynamic_ncols=True)


@contextmanager
def _interrupted(summary: Summary, root: Path, bar) -> Iterator[None]:
    """Ctrl-C says what is kept and how to go on (``--quiet`` too: it is why the run ended); an error
    (a scheduler out of reach) leaves no stale bar above its message."""
    try:
        yield
    except KeyboardInterrupt:
        bar.close()
        print(f"{root}: interrupted; {summary.done + summary.skipped} of {summary.total} recordings published "
              "(in the ledger). The same command resumes and skips them", file=sys.stderr)
        raise
    except UserError:
        bar.leave = False
        raise


def _prepare(root: Path, fp: dict[str, Any], force: bool) -> dict[str, dict]:
    """Make ``root`` ready; return the ledger of a run being resumed (``key -> entry``)."""
    state = root / STATE_DIR
    run_file = state / RUN_FILE
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not run_file.is_file():
            raise UserError(f"{root}: a non-empty folder that is not an edge-runtime transform output; "
                            "refusing to write into it")
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
        if force or previous != fp:
            if not force:
                raise UserError(f"{root}: holds a transform with other settings ({_differs(previous, fp)}); "
                                "pass --force to redo it")
            shutil.rmtree(root)
    state.mkdir(parents=True, exist_ok=True)
    if not run_file.is_file():
        tmp = run_file.with_name(RUN_FILE + PARTIAL_MARK)
        tmp.write_text(json.dumps(fp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, run_file)
    return read_ledger(root)


def _differs(previous: dict | None, fp: dict[str, Any]) -> str:
    if not isinstance(previous, dict):
        return "its run.json is unreadable"
    keys = [k for k in fp if previous.get(k) != fp[k]]
    return ", ".join(f"{k} {previous.get(k)!r} vs now {fp[k]!r}" for k in keys) or "different"


def read_ledger(root: Path) -> dict[str, dict]:
    """The finished recordings (``key -> entry``); a line cut short by a kill is ignored."""
    path = Path(root) / STATE_DIR / LEDGER_FILE
    entries: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "key" in entry:
                entries[entry["key"]] = entry
    return entries


def _execute(bundle, interpreter, sources: list[Source], root: Path, options: Options, ledger: dict[str, dict],
             workers: int | None, scheduler: str | None) -> Iterator[dict]:
    todo = []
    for s in sources:  # the skip check here, where the files are: no task for a finished recording
        if finished(s, str(root), ledger.get(s.key)):
            yield {**ledger[s.key], "status": "skipped"}
        else:
            todo.append(s)
    sources = todo
    if not sources:
        return
    if workers is None and scheduler is None:
        if interpreter is None:
            from edge_runtime.interpreter import TFLiteInterpreter

            interpreter = TFLiteInterpreter.from_bundle(bundle)
        for s in sources:
            yield run_task(bundle, interpreter, s, str(root), options, ledger.get(s.key))
        return
    try:
        from edge_runtime.publish import cluster
    except ImportError:
        raise UserError("--workers/--scheduler need Dask: pip install 'edge-privacy-runtime[publish]'") from None
    with cluster.client_for(workers, scheduler) as client:
        plugin = cluster.BundlePlugin(bundle)
        client.register_plugin(plugin)
        # the longest recordings first, so that a run does not end on one worker with a long one left
        ranked = sorted(zip(sizes(sources), sources), key=lambda e: -e[0])  # stable: ties keep their order
        futures = {client.submit(cluster.run_on_worker, s, str(root), options, ledger.get(s.key), plugin.name,
                                 pure=False, priority=size): s for size, s in ranked}
        for fut in cluster.dd.as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # e.g. KilledWorker: the recording kept killing its workers
                yield {"key": futures[fut].key, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
            fut.release()


def _remove_partials(root: Path) -> None:
    for p in root.rglob(f".*{PARTIAL_MARK}*"):
        if p.is_file():
            p.unlink(missing_ok=True)


def _pack(root: Path, dst: Path) -> None:
    """``root``'s files (not its state) into the zip ``dst``, atomically, in a stable order."""
    tmp = dst.with_name(f".{dst.name}{PARTIAL_MARK}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(root).parts)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            info = zipfile.ZipInfo(p.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())
    os.replace(tmp, dst)
