"""Two bundles' models on every MotionSense context window of a run's data (train and test trials, at
the run's stride, edge samples held past recording ends) and on synthetic extremes: outputs bit for bit,
one window per invoke; the new one also in batches of 64 when it takes a batch.

    python benchmarks/compare_bundle_outputs.py RUN_DIR OLD.tflite NEW.tflite [NEW_BATCHED.tflite]

Writes NEW.tflite.compare.json. Used for the step-timing bundles' reconversion
(benchmarks/results/20261201-step-bitidentity.json).
"""
import sys, json, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from converters.run_dir import read_run_dir
from models.data import DataConfig, load_dataset
from models.transforms import with_context

run, old_path, new_path = sys.argv[1:4]
dyn_path = sys.argv[4] if len(sys.argv) > 4 else None
spec = read_run_dir(run).spec
cfg = DataConfig(feature_set=spec.feature_set.name, activities=spec.all_activities, window=spec.window, stride=spec.stride)
ds = load_dataset(None, cfg, progress=False)
sets = {}
for name, part in (("test", ds.test), ("train", ds.train)):
    sets[name] = with_context(part, spec.stride, *spec.context)
L, C = sets["test"].shape[1:]
rng = np.random.default_rng(1)
syn = np.concatenate([np.abs(rng.normal(1, 0.6, (500, L, C))), np.abs(rng.normal(1, 3.0, (200, L, C))),
                      np.zeros((10, L, C)), np.full((10, L, C), 50.0), np.abs(rng.standard_cauchy((200, L, C)))]).astype(np.float32)
sets["synthetic"] = syn

def one(path):
    it = Interpreter(model_content=open(path, "rb").read(), num_threads=1); it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    def f(x):
        out = np.empty((len(x), spec.window, C), np.float32)
        for k in range(len(x)):
            it.set_tensor(i, x[k:k + 1]); it.invoke(); out[k] = it.get_tensor(o)[0]
        return out
    return f

def batched(path, size):
    it = Interpreter(model_content=open(path, "rb").read(), num_threads=1)
    i = it.get_input_details()[0]["index"]
    it.resize_tensor_input(i, [size, L, C]); it.allocate_tensors()
    o = it.get_output_details()[0]["index"]
    def f(x):
        out = np.empty((len(x), spec.window, C), np.float32)
        for k in range(0, len(x), size):
            b = x[k:k + size]; n = len(b)
            if n < size: b = np.concatenate([b, np.zeros((size - n, L, C), np.float32)])
            it.set_tensor(i, b); it.invoke(); out[k:k + n] = it.get_tensor(o)[:n]
        return out
    return f

res = {}
fo, fn = one(old_path), one(new_path)
fb = batched(dyn_path, 64) if dyn_path else None
for name, x in sets.items():
    t0 = time.time()
    a, b = fo(x), fn(x)
    diff = np.abs(a - b).reshape(len(x), -1).max(1)
    r = {"windows": len(x), "identical_bytes": bool(a.tobytes() == b.tobytes()), "windows_differing": int((diff > 0).sum()),
         "max_abs_diff": float(diff.max())}
    if fb is not None:
        c = fb(x)
        r["batched64_identical_to_old"] = bool(c.tobytes() == a.tobytes())
    res[name] = r
    print(name, r, f"{time.time() - t0:.0f} s", flush=True)
json.dump(res, open(new_path + ".compare.json", "w"), indent=1)
