"""Runs inside the onnxruntime-gpu virtualenv of `python -m onnxlosses placement` (it
imports nothing from onnxlosses; that venv has onnxruntime-gpu and its dependencies only).

Reads a JSON list of model file paths on stdin; for each, creates a session with the CUDA
provider first (the stub CUDA libraries on LD_LIBRARY_PATH make that possible without a
GPU) and writes one JSON line to stdout: the onnxruntime-gpu version, the providers the
session got, each node's provider (the session's own graph assignment report, from onnxruntime
1.24.1 on; null before) and the
nodes the verbose log says have no CUDA kernel.  The session is never run.
"""
import json
import os
import re
import sys
import tempfile

NO_KERNEL = re.compile(r"CUDA kernel not found in registries for Op type: (\S+) node name: (\S*)")
# small computations onnxruntime keeps on CPU on purpose (GetCpuPreferredNodes)
PREFERRED_CPU = re.compile(r"Force fallback to CPU execution for node: (\S+)")


def place(ort, path, log_path):
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    opts.log_severity_level = 0          # verbose: the partitioner says why a node is on CPU
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    saved = os.dup(2)
    os.dup2(fd, 2)                       # onnxruntime logs to stderr
    try:
        sess = ort.InferenceSession(path, opts, providers=["CUDAExecutionProvider",
                                                           "CPUExecutionProvider"])
        error = None
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        sess, error = None, str(exc).splitlines()[0][:300]
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    with open(log_path, errors="replace") as fh:
        log = fh.read()
    missing = sorted({name for _, name in NO_KERNEL.findall(log)})
    preferred = sorted(set(PREFERRED_CPU.findall(log)))
    if sess is None:
        return dict(path=path, error=error, missing=missing)
    nodes = None                         # before onnxruntime 1.24.1: only the log tells
    if hasattr(sess, "get_provider_graph_assignment_info"):
        nodes = {}
        for sub in sess.get_provider_graph_assignment_info():
            for node in sub.get_nodes():
                nodes[node.name] = [node.op_type, sub.ep_name]
    return dict(path=path, providers=sess.get_providers(), nodes=nodes, missing=missing,
                cpu_preferred=preferred)


def main():
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    paths = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "session.log")
        for path in paths:
            result = place(ort, path, log_path)
            result["version"] = ort.__version__
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
