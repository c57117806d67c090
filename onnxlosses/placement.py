"""`python -m onnxlosses placement`: which onnxruntime-gpu CUDA kernels the exported losses
get, checked on a machine without a GPU.

onnxruntime assigns each node of a graph to a provider, and looks up the CUDA kernel for
it, when a session is created, before any kernel runs.  This check exports every loss in
the registry (each of its example configurations, composed and native forms, with
gradient) for every opset from 13 to the newest the onnxruntime-gpu build loads, in
float16, float32 and float64, with each target dtype its configuration takes, and creates
one CUDA session per model.  The CUDA libraries are replaced by stub libraries built from
`_cuda_stubs/stubs.c` (functions that report success: one device, host memory), so the
CUDA provider loads without a GPU or NVIDIA's libraries.  Each node that is not on CUDA
is classified as

- "CPU by design": a shape computation, or a small node onnxruntime keeps on CPU because
  running it there is cheaper (its log says "Force fallback to CPU execution");
- "no CUDA kernel": onnxruntime has no CUDA kernel for the operator at that opset and
  type: the check fails;
- "CPU, reason unknown": neither of the above: the check fails too.

This checks placement, not numerics: nothing runs.  `python -m onnxlosses parity
--providers CUDAExecutionProvider` checks the numbers where a GPU is present.

onnxruntime-gpu cannot share a virtualenv with the CPU onnxruntime package, so it lives in
its own (`--venv`, created with `--install` when missing); the sessions are created by
`_placement_worker.py` run by that virtualenv's Python.  Needs gcc, readelf and nm.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

STUB_SOURCE = os.path.join(os.path.dirname(__file__), "_cuda_stubs", "stubs.c")
WORKER = os.path.join(os.path.dirname(__file__), "_placement_worker.py")
CUDA_LIBRARY = re.compile(r"lib(cu|nv)")   # libcudart, libcublas(Lt), libcudnn, libcufft, ...
DTYPES = ("float16", "float32", "float64")
# the target dtypes each kind of example target is exported with
TARGET_DTYPES = {"index": ("int64", "uint8"), "index255": ("uint8", "int64"),
                 "index-1": ("int32", "int64")}
CUDA = "CUDAExecutionProvider"


class PlacementError(Exception):
    """The check could not be set up (no onnxruntime-gpu, no compiler): one line, exit 2."""


def _run(cmd, what, **kwargs):
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    except OSError as exc:
        raise PlacementError(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise PlacementError(f"{what} failed ({' '.join(map(str, cmd[:3]))} ...): {tail[0]}")
    return res.stdout


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def gpu_runtime(venv, install="onnxruntime-gpu", log=sys.stderr):
    """(python, onnxruntime-gpu version, provider library) of the virtualenv `venv`,
    created and given `install` (a pip requirement or wheel file) when it has no
    onnxruntime-gpu yet."""
    py = venv_python(venv)
    probe = ("import importlib.metadata as m, importlib.util as u, os; "
             "print(m.version('onnxruntime-gpu')); "
             "print(os.path.join(u.find_spec('onnxruntime').submodule_search_locations[0], "
             "'capi', 'libonnxruntime_providers_cuda.so'))")
    if os.path.exists(py):
        res = subprocess.run([py, "-c", probe], capture_output=True, text=True)
        if res.returncode == 0:
            version, library = res.stdout.split()
            return py, version, library
    log.write(f"placement: creating {venv} with {install}\n")
    _run([sys.executable, "-m", "venv", venv], f"creating the virtualenv {venv}")
    _run([py, "-m", "pip", "install", "-q", install],
         f"--install {install}: pip install into {venv}", timeout=1800)
    version, library = _run([py, "-c", probe], f"onnxruntime-gpu in {venv}").split()
    return py, version, library


def cuda_imports(library):
    """{CUDA library soname: imported function names} of the CUDA provider library, from
    its dynamic section and symbol table (readelf)."""
    dynamic = _run(["readelf", "-d", "-W", library], "readelf -d")
    needed = [n for n in re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", dynamic)
              if CUDA_LIBRARY.match(n)]
    imports = {n: set() for n in needed}
    unversioned = set()
    for line in _run(["readelf", "--dyn-syms", "-W", library], "readelf --dyn-syms").splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] == "UND":
            name, _, version = f[7].partition("@")
            version = version.lstrip("@").split("(")[0].strip()
            if version in imports:
                imports[version].add(name)
            elif not version and re.match(r"_*(cu|nv)", name):
                unversioned.add(name)
    for names in imports.values():     # which library an unversioned import comes from is
        names |= unversioned           # not recorded: every stub defines it
    return imports


def build_stubs(library, out_dir):
    """Stub libraries for every CUDA library `library` needs, built into `out_dir`:
    stubs.c plus a generated 'return 0' function for each other import, exported under
    the library's soname as symbol version.  Returns out_dir."""
    imports = cuda_imports(library)
    if not imports:
        raise PlacementError(f"{library} needs no CUDA library: not a CUDA provider")
    for tool in ("gcc", "nm"):
        if shutil.which(tool) is None:
            raise PlacementError(f"the placement check needs {tool} on PATH")
    os.makedirs(out_dir, exist_ok=True)
    runtime = next((n for n in imports if n.startswith("libcudart.so.")), "libcudart.so.12")
    major = int(runtime.rsplit(".", 1)[1])
    obj = os.path.join(out_dir, "stubs.o")
    _run(["gcc", "-c", "-fPIC", "-O1", f"-DSTUB_CUDA_VERSION={major * 1000}", STUB_SOURCE,
          "-o", obj], "compiling the CUDA stubs")
    defined = set(_run(["nm", "-g", "--defined-only", obj], "nm").split()[2::3])
    for soname, names in imports.items():
        generated = os.path.join(out_dir, soname + ".c")
        with open(generated, "w") as fh:
            fh.write("/* generated from the provider library's imports */\n")
            fh.writelines(f"int {n}(void) {{ return 0; }}\n" for n in sorted(names - defined))
        version_script = os.path.join(out_dir, soname + ".map")
        with open(version_script, "w") as fh:
            fh.write(f"{soname} {{ global: *; }};\n")
        _run(["gcc", "-shared", "-O1", "-fPIC", "-o", os.path.join(out_dir, soname),
              f"-Wl,-soname,{soname}", f"-Wl,--version-script={version_script}", obj,
              generated], f"linking the {soname} stub")
    return out_dir


def grid(opsets, dtypes=DTYPES, C=7):
    """(label, loss, export keywords) for every registered loss x example x form x dtype
    x target dtype x opset."""
    from ._registry import LOSSES
    jobs = []
    for cls in LOSSES:
        spec = cls.spec
        for ex in spec.examples:
            loss = ex.build(cls, C)
            float_target = ex.targets in ("probabilities", "dense")
            impls = ["composed"] + (["native"] if spec.emit_native else [])
            for impl in impls:
                for dtype in dtypes:
                    for tdt in ((dtype,) if float_target else TARGET_DTYPES[ex.targets]):
                        for opset in opsets:
                            label = (f"{spec.name} {ex.label}".strip()
                                     + f" [{impl}, {dtype}, target {tdt}, opset {opset}]")
                            kw = dict(opset=opset, dtype=dtype, target_dtype=tdt,
                                      shape=[None, C, None, None], ndim=4,
                                      grad=impl == "composed", impl=impl, mask=ex.mask)
                            jobs.append((label, loss, kw))
    return jobs


def _worker(python, stubs, paths):
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(
        [stubs] + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]))
    res = subprocess.run([python, WORKER], input=json.dumps(paths), capture_output=True,
                         text=True, env=env)
    results = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or len(results) != len(paths):
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PlacementError(f"the session worker stopped after {len(results)} of "
                             f"{len(paths)} models (exit {res.returncode}): {tail}")
    return results


def newest_opset(python, stubs, tmp):
    """The newest default-domain opset this onnxruntime-gpu loads."""
    import onnx
    from onnx import helper

    from .onnx._export import MIN_OPSET, ir_version_for
    from .onnx._builder import value_info
    import numpy as np
    paths = []
    for opset in range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1):
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                                  [value_info("x", np.float32, [1])],
                                  [value_info("y", np.float32, [1])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  ir_version=ir_version_for(opset))
        paths.append(os.path.join(tmp, f"probe{opset}.onnx"))
        onnx.save(model, paths[-1])
    loaded = [MIN_OPSET + k for k, r in enumerate(_worker(python, stubs, paths))
              if "error" not in r]
    if not loaded:
        raise PlacementError("this onnxruntime-gpu loads no opset from 13 on")
    return max(loaded)


def classify(result, shape_only):
    """{node name: (op type, where)} for the nodes not on CUDA: where is "by design",
    "no CUDA kernel" or "unknown"; None when onnxruntime did not say which provider ran
    each node (before 1.24.1): then only the log's missing kernels are known."""
    missing = set(result["missing"])
    if result["nodes"] is None:
        return None
    preferred = set(result.get("cpu_preferred", ()))
    out = {}
    for name, (op, provider) in result["nodes"].items():
        if provider == CUDA:
            continue
        if name in missing:
            out[name] = (op, "no CUDA kernel")
        elif name in shape_only or name in preferred:
            out[name] = (op, "by design")
        else:
            out[name] = (op, "unknown")
    return out


def _ranges(opsets):
    """[13, 14, 15, 19] -> '13-15, 19'"""
    parts, start = [], None
    for k, o in enumerate(opsets):
        if start is None:
            start = o
        if k + 1 == len(opsets) or opsets[k + 1] != o + 1:
            parts.append(f"{start}" if start == o else f"{start}-{o}")
            start = None
    return ", ".join(parts)


def run(venv="build/placement-venv", install="onnxruntime-gpu", opsets=None, json_file=None,
        out=None, progress=None):
    """Run the check; returns the exit status (1 when a node has no CUDA kernel or is on
    CPU for no known reason, or a session could not be created)."""
    out = out or sys.stdout
    progress = progress or sys.stderr
    import onnx

    from .parity import _shape_only_nodes
    start = time.perf_counter()
    python, version, library = gpu_runtime(venv, install, progress)
    with tempfile.TemporaryDirectory(prefix="onnxlosses-placement-") as tmp:
        stubs = build_stubs(library, os.path.join(tmp, "stubs"))
        newest = newest_opset(python, stubs, tmp)
        from .onnx._export import MIN_OPSET
        every = list(range(MIN_OPSET, newest + 1))
        if opsets:
            bad = [o for o in opsets if o not in every]
            if bad:
                raise ValueError(f"--opsets must be in [{MIN_OPSET}, {newest}] (what "
                                 f"onnxruntime-gpu {version} loads), got {bad[0]}")
            every = sorted(set(opsets))
        jobs = grid(every)
        progress.write(f"placement: onnxruntime-gpu {version}, opsets {_ranges(every)}: "
                       "exporting\n")
        paths, shape_only, seen, exported = [], [], {}, []
        for k, (label, loss, kw) in enumerate(jobs):
            try:
                data = loss.to_onnx(**kw).SerializeToString()
            except ValueError:
                if kw["impl"] == "native":  # the loss operators cannot express every
                    continue                # configuration; the composed form covers it
                raise
            exported.append((label, loss, kw))
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:          # identical models (a form with no float op
                seen[digest] = os.path.join(tmp, f"m{k}.onnx")    # that depends on dtype)
                with open(seen[digest], "wb") as fh:
                    fh.write(data)
            paths.append(seen[digest])
            shape_only.append(_shape_only_nodes(onnx.load_from_string(data)))
        jobs = exported
        unique = sorted(set(paths))
        by_path = dict(zip(unique, _worker(python, stubs, unique)))
    rows, failures, unknown_placement = defaultdict(lambda: defaultdict(set)), [], 0
    records = []
    for (label, loss, kw), path, shapes in zip(jobs, paths, shape_only):
        result = by_path[path]
        if "error" in result:
            failures.append(f"{label}: session: {result['error']}")
            rows[kw["opset"]]["session error"].add(type(loss).__name__)
            continue
        placed = classify(result, shapes)
        if placed is None:
            unknown_placement += 1
            placed = {n: ("?", "no CUDA kernel") for n in result["missing"]}
        for name, (op, where) in sorted(placed.items()):
            rows[kw["opset"]][where].add(op)
            if where != "by design":
                failures.append(f"{label}: {op} node {name}: {where}")
        records.append(dict(model=label, opset=kw["opset"], dtype=kw["dtype"],
                            target_dtype=kw["target_dtype"], impl=kw["impl"],
                            off_cuda={n: list(v) for n, v in placed.items()}))
    seconds = time.perf_counter() - start
    print(f"onnxruntime-gpu {version}: {len(jobs)} models ({len(unique)} distinct), "
          f"{len(every)} opsets, {seconds:.0f} s", file=out)
    if unknown_placement:
        print(f"  placement unknown for {unknown_placement} models: this onnxruntime-gpu "
              "does not report each node's provider (1.24.1 and later do); only missing "
              "kernels named in its log are counted", file=out)
    print(f"  {'opsets':<10} {'nodes not on CUDA':<60}", file=out)
    groups = []
    for opset in every:
        bad = {w: sorted(ops) for w, ops in rows[opset].items() if w != "by design"}
        key = json.dumps(bad, sort_keys=True)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(opset)
        else:
            groups.append((key, [opset], bad))
    for _, group, bad in groups:
        text = "; ".join(f"{where}: {', '.join(ops)}" for where, ops in sorted(bad.items())) \
            or "none: every node on CUDA (shape computations on CPU by design)"
        print(f"  {_ranges(group):<10} {text}", file=out)
    if json_file is not None:
        json.dump(dict(onnxruntime_gpu=version, opsets=every, seconds=seconds,
                       models=records), json_file, indent=1)
    for line in failures[:20]:
        print(f"  FAIL {line}", file=out)
    if len(failures) > 20:
        print(f"  ... and {len(failures) - 20} more", file=out)
    print(f"{len(failures)} node(s) off CUDA without a reason by design"
          if failures else "every node of every model has a CUDA kernel", file=out)
    return 1 if failures else 0
