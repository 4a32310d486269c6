"""A manifest's signed ``measured`` block, as lines for people (``inspect``, the publishing datasheet).

The block is written by ``edge-runtime sign --measured REPORT`` from ``edge-runtime evaluate --bundle``:
what this bundle version was measured to keep and to leak through the edge engine.
"""

from __future__ import annotations


def _num(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _pct(v: object) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def measured_lines(measured: dict | None) -> list[str]:
    """The signed ``measured`` block (``edge-runtime sign --measured``): what this version was measured to do."""
    if not isinstance(measured, dict):
        return []
    j, atk = measured.get("judges") or {}, measured.get("attackers") or {}
    front = (measured.get("frontier") or {}).get("attackers") or {}
    lines = [f"measured    {measured.get('path', '')} ({measured.get('report', '-')})"]
    per_class = j.get("activity_per_class") or {}
    if per_class:
        lines.append("  activity judge " + ", ".join(f"{k} {_pct(v)}" for k, v in per_class.items())
                     + f"; moving {_pct(j.get('activity_moving'))}; gender judge {_pct(j.get('gender'))}; "
                     f"identity judge {_pct(j.get('identity'))}")
    for name, row in atk.items():
        f = front.get(name, {})
        lines.append(f"  adaptive {name:<14} nn {_pct(row.get('nn'))} / trees {_pct(row.get('gbt'))}"
                     + (f"   (frontier {_pct(f.get('nn'))} / {_pct(f.get('gbt'))})" if f else ""))
    u, lab = measured.get("utility") or {}, measured.get("label_only") or {}
    kept = measured.get("kept_utility") or {}  # what the kept features alone allow
    for name, v in u.items():
        beside = [f"label only {_num(lab[name])}"] if lab.get(name) is not None else []
        beside += [f"kept features alone {_num(kept[name])}"] if kept.get(name) is not None else []
        lines.append(f"  {name:<24} {_num(v):>7}" + (f"   ({'; '.join(beside)})" if beside else ""))
    return lines
