"""``DATASET.md`` / ``DATASET.json``: what was published, with which bundle, keeping and hiding what.

Everything in it comes from the bundle's verified manifest (id, version, signer, the measured
privacy/utility figures at conversion) and from the run's own counts and checksums; nothing in it
depends on timing or on which process did the work, so a single-process run, a cluster run and a
resumed run write the same datasheet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_runtime.publish.task import SKIPPED_SAMPLES, Options

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle

JSON_NAME, MD_NAME = "DATASET.json", "DATASET.md"


def signer_of(bundle: Bundle) -> str | None:
    """Who signed the bundle, where bundles carry a signature (else ``None``)."""
    for attr in ("signer", "signed_by"):
        value = getattr(bundle, attr, None)
        if value:
            return str(value)
    sig = bundle.manifest.get("signature")
    if isinstance(sig, dict):
        return sig.get("signer") or sig.get("key_id")
    return None


def build(bundle: Bundle, options: Options, description: str, finished: list[dict],
          failed: list[tuple[str, str]], short: list[tuple[str, str]] = ()) -> dict[str, Any]:
    m = bundle.manifest
    acts = m.get("activities", {})
    metrics = m.get("conversion", {}).get("metrics", {})
    return {
        "data": {
            "source": description,
            "recordings": len(finished),
            "recordings_failed": [{"key": k, "reason": r} for k, r in sorted(failed)],
            "recordings_too_short": [{"key": k, "reason": r} for k, r in sorted(short)],
            "samples_skipped": {k: sum(int(r.get(k, 0)) for r in finished) for k in SKIPPED_SAMPLES},
            "windows": sum(int(r.get("windows", 0)) for r in finished),
            "windows_dropped": sum(int(r.get("dropped", 0)) for r in finished),
            "columns": ["window", "t", *bundle.channels],
            "units": ["", "s", *bundle.units],
            "sample_rate": bundle.sample_rate,
            "window": bundle.window,
            "stride": options.stride or bundle.window,
            "not_included": "the raw samples and any subject table (gender, age, ...); only transformed windows",
        },
        "transform": {
            "bundle": bundle.id,
            "version": bundle.version,
            "signer": signer_of(bundle),
            "model_sha256": m["files"][m["model"]["file"]],
            "feature_set": m["feature_set"],
            "context": {"before": getattr(bundle, "context_before", 0), "after": getattr(bundle, "context_after", 0)},
            "quantization": m["quantization"],
            "keeps": {"activities recognisable": acts.get("required", []), "unchanged": acts.get("neutral", [])},
            "hides": {"attributes": m.get("protected", []), "activities made to look neutral": acts.get("sensitive", [])},
            "measured": {k: v for k, v in metrics.items() if isinstance(v, dict)},
            "measured_deployed": m.get("measured"),
            "keeps_features": m.get("keeps", []),
            "targets_met": m.get("conversion", {}).get("targets_met"),
            "options": {"stride": options.stride, "units": options.units, "max_gap": options.max_gap},
        },
        "recordings": [{k: r.get(k) for k in ("key", "input_sha256", "output_sha256", "samples", "windows", "dropped")}
                       for r in sorted(finished, key=lambda r: r["key"])],
    }


def markdown(sheet: dict[str, Any]) -> str:
    d, t = sheet["data"], sheet["transform"]
    lines = [
        f"# Data set transformed with {t['bundle']} {t['version']}",
        "",
        f"Source: {d['source']}. {d['recordings']} recordings, {d['windows']} transformed windows "
        f"of {d['window']} samples at {d['sample_rate']:g} Hz, one every {d['stride']} samples"
        + (f"; {d['windows_dropped']} windows dropped (the model failed on them; absent)" if d["windows_dropped"] else "")
        + ".",
        "",
        f"Each recording keeps its path and format; its columns are {', '.join(d['columns'])} "
        f"(units: {', '.join(u or '-' for u in d['units'])}). Not included: {d['not_included']}.",
        "",
        "## The transform",
        "",
        f"- bundle: {t['bundle']} {t['version']} (model SHA-256 {t['model_sha256'][:16]}..., {t['quantization']}, "
        f"features {t['feature_set']})",
        f"- signed by: {t['signer'] or 'not signed'}",
        f"- keeps: activities {', '.join(t['keeps']['activities recognisable']) or '-'} recognisable; "
        f"{', '.join(t['keeps']['unchanged']) or '-'} unchanged",
        (f"- output is a function of: {', '.join(t['keeps_features'])} only (everything else in it is population "
         "data learned at training time)") if t.get("keeps_features") else None,
        f"- hides: {', '.join(t['hides']['attributes']) or '-'}; "
        f"{', '.join(t['hides']['activities made to look neutral']) or '-'} made to look neutral",
        "",
        "Measured when the bundle was converted (the deployed TFLite graph vs the Keras model, held-out data):",
        "",
        "| metric | deployed | Keras | allowed diff | ok |",
        "|---|---|---|---|---|",
    ]
    for name, row in t["measured"].items():
        def fmt(v):
            return f"{v:.4f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"
        lines.append(f"| {name} | {fmt(row.get('tflite'))} | {fmt(row.get('keras'))} | {fmt(row.get('limit'))} | "
                     f"{'yes' if row.get('ok') else 'NO' if row.get('ok') is False else '-'} |")
    deployed = t.get("measured_deployed")
    if deployed:
        from edge_runtime.measured import measured_lines

        lines += ["", f"Measured on this bundle version through the edge engine (signed with the manifest; "
                      f"keeps {', '.join(t.get('keeps_features') or []) or '-'}):", "", "```",
                  *measured_lines(deployed), "```"]
    if d["recordings_failed"]:
        lines += ["", f"## {len(d['recordings_failed'])} recording(s) not published", ""]
        lines += [f"- {f['key']}: {f['reason']}" for f in d["recordings_failed"]]
    if d.get("recordings_too_short"):
        lines += ["", f"## {len(d['recordings_too_short'])} recording(s) shorter than one window (nothing to publish)",
                  ""]
        lines += [f"- {f['key']}: {f['reason']}" for f in d["recordings_too_short"]]
    skipped = {k: n for k, n in d.get("samples_skipped", {}).items() if n}
    if skipped:
        lines += ["", "Input samples the engine skipped (never forwarded, never part of a window): "
                  + ", ".join(f"{n} {SKIPPED_SAMPLES[k]}" for k, n in skipped.items()) + "."]
    lines += ["", f"Per-recording checksums (input and output SHA-256): {JSON_NAME}.", ""]
    return "\n".join(line for line in lines if line is not None)


def write(root: Path, bundle: Bundle, options: Options, description: str, finished: list[dict],
          failed: list[tuple[str, str]], short: list[tuple[str, str]] = ()) -> dict[str, Any]:
    from edge_runtime.publish.task import write_atomic

    sheet = build(bundle, options, description, finished, failed, short)
    write_atomic(Path(root) / JSON_NAME, (json.dumps(sheet, indent=2, sort_keys=True) + "\n").encode())
    write_atomic(Path(root) / MD_NAME, markdown(sheet).encode())
    return sheet


