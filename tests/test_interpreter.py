"""The interpreter wrapper: backend choice, signatures, int8 I/O, agreement across backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edge_runtime.testing import make_bundle, model_bytes

from edge_runtime.errors import BundleError, UserError
from edge_runtime.interpreter import BACKEND_ENV, InterpreterError, TFLiteInterpreter, load_backend


def window(seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(1.0, 0.5, (1, 128, 2))).astype(np.float32)


def test_the_architectures_interpreter_is_chosen():
    """LiteRT where it has wheels; on armv7l (no LiteRT wheels) the edge install brings tflite-runtime
    and the same code falls back to it (deploy/arm/verify.sh runs this on an emulated armhf root)."""
    import platform

    expected = "tflite_runtime" if platform.machine() == "armv7l" else "ai_edge_litert"
    name, cls = load_backend()
    assert name == expected
    assert cls.__module__.startswith(expected)


def test_edge_install_declares_each_architectures_interpreter():
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]

    def resolved(machine: str) -> dict[str, str]:
        env = {"platform_machine": machine, "platform_system": "Linux"}
        reqs = [Requirement(d) for d in deps]
        return {r.name: str(r.specifier) for r in reqs if r.marker is None or r.marker.evaluate(env)}

    for machine in ("x86_64", "aarch64"):
        assert "ai-edge-litert" in resolved(machine) and "tflite-runtime" not in resolved(machine)
    armv7 = resolved("armv7l")
    assert armv7["tflite-runtime"] == "==2.14.0" and "ai-edge-litert" not in armv7 and "<2" in armv7["numpy"]


def test_backend_can_be_forced_and_unknown_is_refused(monkeypatch):
    with pytest.raises(UserError, match="unknown interpreter backend"):
        load_backend("onnx")
    monkeypatch.setenv(BACKEND_ENV, "no-such")
    with pytest.raises(UserError):
        load_backend()


def test_run_matches_the_plain_litert_interpreter():
    Interpreter = pytest.importorskip("ai_edge_litert.interpreter", reason="no LiteRT on this architecture").Interpreter

    data = model_bytes("conv_mag2_w128")
    ours = TFLiteInterpreter(data)
    ref = Interpreter(model_content=data).get_signature_runner("transform")
    x = window()
    np.testing.assert_array_equal(ours.run(x), ref(x=x)["y"])
    assert ours.input_shape == ours.output_shape == (1, 128, 2)


def test_int8_io_is_quantized_with_the_model_scales():
    _, Interpreter = load_backend()  # the plain interpreter of whichever flavour is installed

    data = model_bytes("conv_mag2_w128_int8io")
    ours = TFLiteInterpreter(data)
    assert ours.input_quant.is_int and ours.output_quant.is_int
    runner = Interpreter(model_content=data).get_signature_runner("transform")
    d_in, d_out = runner.get_input_details()["x"], runner.get_output_details()["y"]
    (s_in, z_in), (s_out, z_out) = d_in["quantization"], d_out["quantization"]
    x = window(1)
    q = np.clip(np.rint(x / s_in) + z_in, -128, 127).astype(np.int8)
    expect = (runner(x=q)["y"].astype(np.float32) - z_out) * s_out
    np.testing.assert_allclose(ours.run(x), expect, rtol=0, atol=1e-6)
    # and it tracks the float model within a few quantization steps
    f32 = TFLiteInterpreter(model_bytes("conv_mag2_w128")).run(x)
    assert np.abs(ours.run(x) - f32).max() < 8 * s_out


def test_from_bundle_checks_the_manifest(tmp_path):
    b = make_bundle(tmp_path / "io", "conv_mag2_w128_int8io", quantization="int8")
    interp = TFLiteInterpreter.from_bundle(b)
    assert interp.signature == "transform"
    # a manifest whose scale disagrees with the model: load_bundle already refuses it, and so does
    # from_bundle when handed a (hand-made) Bundle object carrying it
    from edge_runtime.bundle import Bundle

    manifest = dict(b.manifest)
    manifest["model"] = dict(manifest["model"], input=dict(manifest["model"]["input"], scale=0.5))
    with pytest.raises(BundleError, match="quantization"):
        TFLiteInterpreter.from_bundle(Bundle(path=b.path, manifest=manifest))


def test_bad_models_and_inputs():
    with pytest.raises(BundleError, match="cannot load"):
        TFLiteInterpreter(b"not a flatbuffer at all" * 10)
    with pytest.raises(BundleError, match="no signature"):
        TFLiteInterpreter(model_bytes("affine_mag2_w128"), signature="encode")
    interp = TFLiteInterpreter(model_bytes("gather_oob_mag2_w128"))
    with pytest.raises(InterpreterError, match="input shape"):
        interp.run(np.zeros((1, 64, 2), np.float32))
    bad = window()
    bad[0, 3, 1] = 500.0
    with pytest.raises(InterpreterError, match="invoke failed"):
        interp.run(bad)
    good = window()
    np.testing.assert_allclose(interp.run(good), good * 0.5 + 0.25, atol=1e-6)  # recovers after a failure


def test_tensorflow_fallback_agrees():
    """The lazy tf.lite backend gives the same numbers (a subprocess keeps TF out of this one)."""
    pytest.importorskip("tensorflow")
    code = (
        "import numpy as np, sys\n"
        "from edge_runtime.interpreter import TFLiteInterpreter\n"
        "from edge_runtime.testing import model_bytes\n"
        "x = np.abs(np.random.default_rng(0).normal(1.0, 0.5, (1, 128, 2))).astype(np.float32)\n"
        f"model = model_bytes({str(Path(__file__).parent / 'fixtures' / 'engine' / 'conv_mag2_w128.tflite')!r})\n"
        "outs = [TFLiteInterpreter(model, backend=b).run(x) for b in ('tensorflow', 'ai_edge_litert')]\n"
        "print(float(np.abs(outs[0] - outs[1]).max()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-5
