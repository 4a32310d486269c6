"""Trusted bundles: signatures, the trojan bundle, name shadowing, keys and rotation (TensorFlow-free).

The trojan: an attacker with write access to a bundle folder swaps ``model.tflite`` for another
graph and updates its checksum in the manifest. Before signatures, ``inspect`` called that bundle
"verified" and ``transform`` ran it under the genuine id and version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundle import MANIFEST_NAME, SHIPPED_DIR, load_bundle, read_tflite_io, read_tflite_tensor_types, \
    shipped_bundles
from edge_runtime.cli import main
from edge_runtime.errors import BundleError
from edge_runtime.signing import SIGNATURE_FILE, SHIPPED_KEYS_DIR, PublicKey, Trust, default_trust, key_id, \
    load_public_key, sign_bundle, generate_key
from edge_runtime.testing import make_bundle, sign_for_tests

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "engine"
SHIPPED = shipped_bundles()
needs_shipped = pytest.mark.skipif("motionsense-gender" not in SHIPPED, reason="motionsense-gender is not shipped")


def _trojan(folder: Path) -> None:
    """Swap in a float graph that passes its input through almost unchanged and fix the checksum."""
    shutil.copy(FIXTURES / "affine_mag2_w128.tflite", folder / "model.tflite")
    m = json.loads((folder / MANIFEST_NAME).read_text())
    m["files"]["model.tflite"] = hashlib.sha256((folder / "model.tflite").read_bytes()).hexdigest()
    (folder / MANIFEST_NAME).write_text(json.dumps(m, indent=2))


@pytest.fixture
def shipped_copy(tmp_path) -> Path:
    if "motionsense-gender" not in SHIPPED:
        pytest.skip("motionsense-gender is not shipped")
    dst = tmp_path / "copy" / "motionsense-gender"
    shutil.copytree(SHIPPED_DIR / "motionsense-gender", dst)
    return dst


# -- the shipped bundles and the project key ---------------------------------------------------------


@needs_shipped
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundles_are_signed_by_the_shipped_project_key(name):
    project = [key_id(load_public_key(p)) for p in sorted(SHIPPED_KEYS_DIR.glob("*.pub"))]
    assert project, "the package ships the project's public key"
    b = load_bundle(name)  # default trust: no flag needed
    assert b.signer.key_id in project and (SHIPPED_DIR / name / SIGNATURE_FILE).is_file()
    only_project = Trust({k: load_public_key(p) for k, p in zip(project, sorted(SHIPPED_KEYS_DIR.glob("*.pub")))})
    assert load_bundle(name, trust=only_project).signer.key_id in project


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs a git checkout (the ARM check runs the tests from a copy of the files)")
def test_no_private_key_is_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for f in tracked:
        p = REPO / f
        if p.is_file() and p.stat().st_size < 1_000_000:
            assert b"PRIVATE" + b" KEY-----" not in p.read_bytes(), f


# -- the trojan bundle ---------------------------------------------------------------------------------


def test_the_trojan_bundle_is_refused_by_inspect_transform_and_the_gateway(shipped_copy, tmp_path, capsys):
    _trojan(shipped_copy)
    assert main(["inspect", str(shipped_copy)]) == 2
    err = capsys.readouterr().err
    assert "the signature by key" in err and "does not match manifest.json" in err and "Traceback" not in err

    np.save(tmp_path / "in.npy", np.ones((2, 128, 2), np.float32))
    assert main(["transform", "--bundle", str(shipped_copy), "--input", str(tmp_path / "in.npy"),
                 "--output", str(tmp_path / "out.npy"), "--quiet"]) == 2
    assert "does not match manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "out.npy").exists()

    config = tmp_path / "gw.toml"
    config.write_text(f'bundle = "{shipped_copy}"\n[[devices]]\nid = "d"\naddress = "00:11:22:33:44:55"\n'
                      '[[sinks]]\ntype = "jsonl"\npath = "-"\n')
    assert main(["run", "--config", str(config), "--check"]) == 2
    assert "does not match manifest.json" in capsys.readouterr().err


def test_a_trojan_signed_by_an_unknown_key_is_refused_naming_the_key(shipped_copy, capsys):
    _trojan(shipped_copy)
    attacker = generate_key()
    sign_bundle(shipped_copy, attacker)
    with pytest.raises(BundleError, match=f"signed by key '{key_id(attacker.public_key())}', which is not trusted"):
        load_bundle(shipped_copy)
    assert main(["inspect", str(shipped_copy)]) == 2
    assert key_id(attacker.public_key()) in capsys.readouterr().err


def test_even_a_trusted_signature_does_not_get_a_float_graph_past_an_int8_claim(shipped_copy):
    """The claims are checked against the flatbuffer behind the signature (a signer's mistake)."""
    _trojan(shipped_copy)
    m = json.loads((shipped_copy / MANIFEST_NAME).read_text())
    m["model"]["input"]["name"], m["model"]["output"]["name"] = "x", "y"  # the fixture's own I/O names
    m["model"].pop("batch", None)  # and its one-window batch
    m.pop("context", None)  # and its window-only input
    m["model"]["input"]["shape"] = m["model"]["output"]["shape"]
    (shipped_copy / MANIFEST_NAME).write_text(json.dumps(m))
    sign_for_tests(shipped_copy)
    with pytest.raises(BundleError, match="the manifest says int8, but the model is float32"):
        load_bundle(shipped_copy)
    m["quantization"] = "float32"
    (shipped_copy / MANIFEST_NAME).write_text(json.dumps(m))
    sign_for_tests(shipped_copy)
    with pytest.raises(BundleError, match=r"the manifest says size_bytes \d+, the model file has \d+ bytes"):
        load_bundle(shipped_copy)


def test_unsigned_bundles_are_refused_unless_allowed_and_then_said_loudly(tmp_path, capsys):
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    (b.path / SIGNATURE_FILE).unlink()
    with pytest.raises(BundleError, match="unsigned bundle .*edge-runtime sign BUNDLE --key KEY.*--allow-unsigned"):
        load_bundle(b.path)
    assert load_bundle(b.path, trust=Trust(allow_unsigned=True)).signer.key_id is None
    assert main(["inspect", str(b.path)]) == 2
    assert "unsigned bundle" in capsys.readouterr().err
    assert main(["inspect", str(b.path), "--allow-unsigned"]) == 0
    cap = capsys.readouterr()
    assert "WARNING: bundle test-bundle is UNSIGNED" in cap.err and "signed by   UNSIGNED" in cap.out


def test_a_garbled_signature_file_is_a_bundle_error(tmp_path):
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    for text in ("{", '{"algorithm": "rsa"}', '{"algorithm": "ed25519", "key_id": 1, "signature": "x"}',
                 '{"algorithm": "ed25519", "key_id": "k", "signature": "not base64!"}', "[" * 100_000):
        (b.path / SIGNATURE_FILE).write_text(text)
        with pytest.raises(BundleError):
            load_bundle(b.path)


# -- keys: keygen, sign, --trust, the keys folder, rotation ----------------------------------------------


def test_keygen_sign_and_trust_round_trip(tmp_path, capsys, monkeypatch):
    key = tmp_path / "keys" / "ops.key"
    assert main(["keygen", "--out", str(key)]) == 0
    out = capsys.readouterr().out
    kid = out.split()[2]
    assert (key.stat().st_mode & 0o777) == 0o600 and (tmp_path / "keys" / "ops.pub").is_file()
    assert main(["keygen", "--out", str(key)]) == 2  # never overwrites a key
    assert "already exists" in capsys.readouterr().err

    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    assert main(["sign", str(b.path), "--key", str(key)]) == 0
    assert f"with key {kid}" in capsys.readouterr().out
    with pytest.raises(BundleError, match=f"signed by key '{kid}', which is not trusted"):
        load_bundle(b.path)
    assert main(["inspect", str(b.path), "--trust", str(tmp_path / "keys" / "ops.pub")]) == 0
    assert f"signed by   ed25519 key {kid}" in capsys.readouterr().out
    monkeypatch.setenv("EDGE_RUNTIME_TRUSTED_KEYS", str(tmp_path / "keys"))  # the keys folder
    assert load_bundle(b.path).signer.key_id == kid
    assert main(["inspect", str(b.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["_signer"]["key_id"] == kid


def test_sign_refuses_a_bundle_that_does_not_verify(tmp_path, capsys):
    key = tmp_path / "k.key"
    main(["keygen", "--out", str(key)])
    capsys.readouterr()
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    (b.path / "model.tflite").write_bytes(b"TFL3")
    before = (b.path / SIGNATURE_FILE).read_bytes()
    assert main(["sign", str(b.path), "--key", str(key)]) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert (b.path / SIGNATURE_FILE).read_bytes() == before


# -- without the cryptography package (not required on armv7l): verifying works, signing says what to install --


@pytest.fixture
def hide_cryptography(monkeypatch):
    """Makes ``cryptography`` unimportable in this process, as on a 32-bit Pi that installed only the requirements."""
    def hide():
        for name in [m for m in sys.modules if m.startswith("cryptography.")] + ["cryptography"]:
            monkeypatch.setitem(sys.modules, name, None)
    return hide


def _one_line_naming_the_fix(err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "needs the 'cryptography' package" in err and "pip install cryptography" in err, err
    assert "apt install python3-cryptography" in err, err


@needs_shipped
def test_without_cryptography_bundles_verify_and_every_signing_path_says_what_to_install(tmp_path, capsys,
                                                                                          hide_cryptography):
    from edge_runtime.testing import throwaway_key_file

    key_file = throwaway_key_file(tmp_path)  # a signing key exists; only the package is gone
    hide_cryptography()
    assert load_bundle("motionsense-gender").signer.key_id  # the interpreter's libcrypto verifies the project key
    assert main(["inspect", "motionsense-gender"]) == 0
    capsys.readouterr()
    bundle = tmp_path / "copy"
    shutil.copytree(SHIPPED_DIR / "motionsense-gender", bundle)
    before = (bundle / SIGNATURE_FILE).read_bytes()
    for argv in (["keygen", "--out", str(tmp_path / "k.key")],
                 ["sign", str(bundle), "--key", str(key_file)],
                 ["convert", "--rebatch", str(bundle), "--batch", "1", "--out", str(tmp_path / "b1"),
                  "--sign", str(key_file)]):
        assert main(argv) == 2, argv
        _one_line_naming_the_fix(capsys.readouterr().err)
    assert not (tmp_path / "k.key").exists() and not (tmp_path / "b1").exists()
    assert (bundle / SIGNATURE_FILE).read_bytes() == before


@needs_shipped
def test_without_cryptography_or_a_usable_libcrypto_a_bundle_is_refused_saying_what_to_install(monkeypatch, capsys,
                                                                                                hide_cryptography):
    from edge_runtime import ed25519

    hide_cryptography()
    monkeypatch.setattr(ed25519, "openssl", lambda: None)  # e.g. a statically linked OpenSSL: the fallback's turn
    with pytest.raises(BundleError) as refused:
        load_bundle("motionsense-gender")
    _one_line_naming_the_fix(str(refused.value))
    assert main(["inspect", "motionsense-gender"]) == 2
    _one_line_naming_the_fix(capsys.readouterr().err)


def test_key_ids_of_cryptography_38_keys_without_public_bytes_raw():
    """Debian bookworm's python3-cryptography (38, how one signs on 32-bit ARM) has no ``public_bytes_raw``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key()

    class Before40:  # the same key, with only the serialization API cryptography 38 has
        def public_bytes(self, encoding, fmt):
            return public.public_bytes(encoding, fmt)

    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key_id(Before40()) == key_id(public) == key_id(PublicKey(raw)) == hashlib.sha256(raw).hexdigest()[:16]


@needs_shipped
def test_the_rotation_script_re_signs_every_shipped_bundle_with_a_new_key(tmp_path):
    """deploy/rotate-signing-key.sh on a copy of the tree: new key, bundles re-signed, public key installed."""
    tree = tmp_path / "tree"
    for part in ("edge_runtime", "firmware_bridge", "deploy"):
        shutil.copytree(REPO / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    key = tmp_path / "keys" / "project-signing.key"
    key.parent.mkdir()
    old = tree / "edge_runtime" / "keys" / "project.pub"
    old_id = key_id(load_public_key(old))
    env = {**os.environ, "PYTHONPATH": str(tree), "EDGE_RUNTIME_TRUSTED_KEYS": str(tmp_path / "none")}
    run = subprocess.run(["sh", str(tree / "deploy" / "rotate-signing-key.sh"), str(key)], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    new_id = key_id(load_public_key(old))
    assert new_id != old_id and key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    check = "import sys; from edge_runtime.bundle import load_bundle, shipped_bundles; " \
            "print(sorted({load_bundle(n).signer.key_id for n in shipped_bundles()}))"
    out = subprocess.run([sys.executable, "-c", check], cwd=tree, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == repr([new_id]), out.stderr
    inside = subprocess.run(["sh", str(tree / "deploy" / "rotate-signing-key.sh"), str(tree / "k.key")], cwd=tree,
                            env=env, capture_output=True, text=True)
    assert inside.returncode == 2 and "inside the repository" in inside.stderr


# -- every command that loads bundles takes the same trust options -------------------------------------------

TRUST_COMMANDS = ("transform", "inspect", "run", "demo", "evaluate", "benchmark")


@pytest.mark.parametrize("name", TRUST_COMMANDS)
def test_every_command_that_loads_bundles_has_the_shared_trust_options(name):
    import argparse
    import importlib

    from edge_runtime.cli import COMMANDS
    from edge_runtime.signing import add_trust_arguments

    def options(configure):
        parser = argparse.ArgumentParser()
        configure(parser)
        return {a.dest: (a.option_strings, a.metavar, a.default, type(a).__name__) for a in parser._actions
                if a.dest in ("trust", "allow_unsigned")}

    assert options(importlib.import_module(COMMANDS[name][0]).configure) == options(add_trust_arguments)


def _ops_signed_bundle(tmp_path, capsys):
    """A bundle signed by a fresh key that nothing trusts by default, and that key's public file."""
    key = tmp_path / "keys" / "ops.key"
    assert main(["keygen", "--out", str(key)]) == 0
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    assert main(["sign", str(b.path), "--key", str(key)]) == 0
    capsys.readouterr()
    return b.path, tmp_path / "keys" / "ops.pub"


def test_evaluate_takes_trust_and_allow_unsigned(tmp_path, capsys):
    path, pub = _ops_signed_bundle(tmp_path, capsys)
    no_data = ["--data", str(tmp_path / "no-data"), "--no-attackers"]
    assert main(["evaluate", "--bundle", str(path), *no_data]) == 2  # refused before any data is read
    assert "which is not trusted" in capsys.readouterr().err
    assert main(["evaluate", "--bundle", str(path), "--trust", str(pub), *no_data]) == 2
    err = capsys.readouterr().err  # trusted: it gets as far as the (absent) data
    assert "not trusted" not in err and "no A_DeviceMotion_data" in err
    (path / SIGNATURE_FILE).unlink()
    assert main(["evaluate", "--bundle", str(path), "--allow-unsigned", *no_data]) == 2
    err = capsys.readouterr().err
    assert "edge-runtime evaluate: WARNING: bundle test-bundle is UNSIGNED" in err and "no A_DeviceMotion_data" in err


def test_benchmark_takes_trust_and_allow_unsigned_and_its_cold_start_child_trusts_the_same(tmp_path, capsys):
    from edge_runtime.commands.benchmark import engine_process

    path, pub = _ops_signed_bundle(tmp_path, capsys)
    out = tmp_path / "u.json"
    assert main(["benchmark", "--bundle", str(path), "--uplink", "--json", str(out)]) == 2
    assert "which is not trusted" in capsys.readouterr().err
    assert main(["benchmark", "--bundle", str(path), "--trust", str(pub), "--uplink", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["uplink"][0]["bundle"].startswith("test-bundle")
    # the fresh process of the cold-start figure verifies the bundle with the key this process trusted
    cold = engine_process(load_bundle(path, trust=default_trust([pub])), windows=2)
    assert cold["cold_start_s"] > 0 and cold["verify_s"] > 0 and cold["interpreter_s"] > 0
    (path / SIGNATURE_FILE).unlink()
    assert main(["benchmark", "--bundle", str(path), "--allow-unsigned", "--uplink", "--json", str(out)]) == 0
    assert "edge-runtime benchmark: WARNING: bundle test-bundle is UNSIGNED" in capsys.readouterr().err
    assert engine_process(load_bundle(path, trust=Trust(allow_unsigned=True)), windows=2)["cold_start_s"] > 0


# -- names never resolve to local folders --------------------------------------------------------------------


@needs_shipped
def test_a_local_folder_named_like_a_shipped_bundle_does_not_shadow_it(tmp_path, monkeypatch, capsys):
    """A trusted-signed, valid bundle in the (writable) working directory is still not used by name."""
    evil = make_bundle(tmp_path / "motionsense-gender", "affine_mag2_w128", bundle_id="motionsense-gender")
    monkeypatch.chdir(tmp_path)
    assert load_bundle("motionsense-gender").path == SHIPPED_DIR / "motionsense-gender"
    assert load_bundle("./motionsense-gender").path == Path("motionsense-gender")  # as a path: used
    assert load_bundle(evil.path).quantization == "float32"
    assert main(["inspect", "motionsense-gender"]) == 0
    assert f"path        {SHIPPED_DIR / 'motionsense-gender'}" in capsys.readouterr().out
    # the gateway config: a bare name next to the config file or in the working directory stays a name
    (tmp_path / "gw.toml").write_text('bundle = "motionsense-gender"\n[[devices]]\nid = "d"\n'
                                      'address = "00:11:22:33:44:55"\n[[sinks]]\ntype = "jsonl"\npath = "-"\n')
    from edge_runtime.gateway.config import load_config

    cfg = load_config(tmp_path / "gw.toml")
    assert cfg.bundle == "motionsense-gender" and cfg.load_bundle().path == SHIPPED_DIR / "motionsense-gender"


def test_a_local_folder_given_by_bare_name_is_refused_with_the_path_hint(tmp_path, monkeypatch):
    make_bundle(tmp_path / "mine", "affine_mag2_w128")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BundleError, match=r"mine: no bundle of that name .*give it as a path: \./mine"):
        load_bundle("mine")
    assert load_bundle("./mine").id == "test-bundle"


def test_a_configured_bundles_dir_resolves_names_first(tmp_path):
    make_bundle(tmp_path / "site" / "site-bundle", "affine_mag2_w128", bundle_id="site-bundle")
    assert load_bundle("site-bundle", bundles_dir=tmp_path / "site").id == "site-bundle"
    with pytest.raises(BundleError, match="no bundle of that name"):
        load_bundle("site-bundle")


# -- the flatbuffer reader agrees with LiteRT's generated schema ---------------------------------------------


@pytest.mark.parametrize("model", sorted(p.name for p in FIXTURES.glob("*.tflite"))
                         + [f"bundle:{n}" for n in SHIPPED])
def test_the_standard_library_reader_agrees_with_litert_schema(model):
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    from edge_runtime.bundle import _TFLITE_TYPES

    path = SHIPPED_DIR / model.split(":", 1)[1] / "model.tflite" if model.startswith("bundle:") else FIXTURES / model
    data = path.read_bytes()
    m = schema.Model.GetRootAsModel(data, 0)
    constants, activations = set(), set()
    for si in range(m.SubgraphsLength()):
        sub = m.Subgraphs(si)
        for ti in range(sub.TensorsLength()):
            t = sub.Tensors(ti)
            buf = m.Buffers(t.Buffer())
            (constants if buf.DataLength() > 0 or buf.Offset() > 1 else activations).add(_TFLITE_TYPES[t.Type()])
    assert read_tflite_tensor_types(data) == (constants, activations)
    sig = m.SignatureDefs(0)
    ours = read_tflite_io(data)[sig.SignatureKey().decode()]
    assert [s.name for s in ours[0]] == [sig.Inputs(i).Name().decode() for i in range(sig.InputsLength())]


def test_default_trust_is_the_shipped_key_plus_the_keys_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_RUNTIME_TRUSTED_KEYS", str(tmp_path / "absent"))
    shipped = {key_id(load_public_key(p)) for p in SHIPPED_KEYS_DIR.glob("*.pub")}
    assert set(default_trust().keys) == shipped
    assert not default_trust().allow_unsigned
