"""The measured figures a manifest carries: condensed from an evaluation report, recorded by ``sign --measured``."""

from __future__ import annotations

import json

import pytest

from edge_runtime.bundle import MANIFEST_NAME, load_bundle
from edge_runtime.cli import main
from edge_runtime.signing import Trust, key_id, load_public_key
from edge_runtime.testing import make_bundle
from models.measured import measured_figures


def _report(bundle_id: str, version: str, sha: str) -> list[dict]:
    entry = {
        "transform": f"{bundle_id} int8 (edge engine)",
        "bundle": {"id": bundle_id, "version": version, "model_sha256": sha},
        "keeps": ["activity", "step_timing"], "shown_as": {"jog": "std"},
        "data": {"data_sha256": "ab" * 32, "test_trials": [11, 12], "test_windows": 10, "window": 128},
        "judges": {"activity5": {"per_class_accuracy": {"dws": 0.97712, "jog": 0.0}},
                   "activity4": {"accuracy": 0.79}, "gender": {"accuracy": 0.50533}, "identity": {"accuracy": 0.058}},
        "attackers": {"gender_known": {"nn": 0.6514, "gbt": 0.6591}, "activity_retrained": {"nn": 0.99},
                      "gender_unseen": {"nn": 0.604, "gbt": 0.599, "majority_per_fold": [0.5, 0.6],
                                        "majority_pooled": 0.572}},
        "utility": {"steps_rel_error": {"median": 0.0, "p90": 0.0522}, "step_rate_r": {"within": 0.876},
                    "cadence_mae_spm": 2.3846, "shape_r_median": 0.6929, "notes": []},
    }
    label = {"kind": "label_only", "utility": {"steps_rel_error": {"median": 0.047, "p90": 0.138},
                                               "step_rate_r": {"within": 0.0}}}
    other = {"kind": "frontier", "keeps": ["activity", "step_timing"], "shown_as": {},
             "attackers": {"gender_known": {"nn": 0.9, "gbt": 0.9}}}
    frontier = {"kind": "frontier", "keeps": ["activity", "step_timing"], "shown_as": {"jog": "std"},
                "attackers": {"gender_known": {"nn": 0.646, "gbt": 0.667}}}
    kept = {"kind": "kept_utility", "keeps": ["activity", "step_timing"],
            "utility": {"step_rate_r": {"within": 0.977}, "enmo_r": None, "shape_r_median": None}}
    return [entry, label, other, frontier, kept]


def test_measured_figures_condense_the_entry_with_its_own_label_only_and_frontier_rows():
    reports = _report("b", "1", "0" * 64)
    m = measured_figures(reports[0], reports)
    assert m["bundle"]["version"] == "1"
    assert m["judges"] == {"activity_per_class": {"dws": 0.9771, "jog": 0.0}, "activity_moving": 0.79,
                           "gender": 0.5053, "identity": 0.058}
    assert m["attackers"] == {"gender_known": {"nn": 0.6514, "gbt": 0.6591},
                              "gender_unseen": {"nn": 0.604, "gbt": 0.599, "majority_pooled": 0.572}}
    assert m["utility"] == {"steps_rel_error_median": 0.0, "steps_rel_error_p90": 0.0522, "step_rate_r": 0.876,
                            "cadence_mae_spm": 2.3846, "shape_r_median": 0.6929}
    assert m["label_only"]["steps_rel_error_p90"] == 0.138
    assert m["frontier"]["attackers"]["gender_known"] == {"nn": 0.646, "gbt": 0.667}  # jog as std, not the other
    assert m["kept_utility"] == {"step_rate_r": 0.977}  # what the kept features allow; no waveform rows


@pytest.fixture
def key(tmp_path, capsys):
    path = tmp_path / "keys" / "lab.key"
    assert main(["keygen", "--out", str(path)]) == 0
    capsys.readouterr()
    return path


def test_sign_measured_records_the_figures_of_that_version_and_the_signature_covers_them(tmp_path, key, capsys):
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    sha = b.manifest["files"][b.manifest["model"]["file"]]
    report = tmp_path / "report.json"
    entries = _report(b.id, b.version, sha)
    entries[0]["measured"] = measured_figures(entries[0], entries)  # as `edge-runtime evaluate` writes it
    report.write_text(json.dumps(entries))
    assert main(["sign", str(b.path), "--key", str(key), "--measured", str(report)]) == 0
    public = load_public_key(key.with_suffix(".pub"))
    signed = load_bundle(b.path, trust=Trust({key_id(public): public}))
    assert signed.manifest["measured"]["attackers"]["gender_known"]["nn"] == 0.6514
    assert signed.manifest["measured"]["report"] == str(report)
    capsys.readouterr()
    assert main(["inspect", str(b.path), "--trust", str(key.with_suffix(".pub"))]) == 0
    out = capsys.readouterr().out
    assert "adaptive gender_known   nn 65.1% / trees 65.9%   (frontier 64.6% / 66.7%)" in out
    assert "(label only 0.000; kept features alone 0.977)" in out  # step_rate_r


def test_sign_measured_refuses_a_report_of_another_version_and_changes_nothing(tmp_path, key, capsys):
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    before = (b.path / MANIFEST_NAME).read_bytes()
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report(b.id, "not-this-version", "0" * 64)))
    assert main(["sign", str(b.path), "--key", str(key), "--measured", str(report)]) == 2
    err = capsys.readouterr().err
    assert f"no figures for {b.id} {b.version}" in err and "Traceback" not in err
    assert (b.path / MANIFEST_NAME).read_bytes() == before
    report.write_text("{not json")
    assert main(["sign", str(b.path), "--key", str(key), "--measured", str(report)]) == 2
    assert "not a readable report.json" in capsys.readouterr().err
