"""Command line:

    python -m onnxlosses --version
    python -m onnxlosses demo
    python -m onnxlosses config
    python -m onnxlosses parity [--json FILE] [--dtypes ...] [--ranks ...] [--opsets ...]
                                [--impls composed native]
                                [--providers ...] [--require PROVIDER ...]
                                [--losses NAME ... | --config JSON]
                                [--input X.npy --target T.npy [--mask M.npy]]
    python -m onnxlosses placement [--venv DIR] [--install REQUIREMENT] [--opsets ...]
                                   [--json FILE]
    python -m onnxlosses export NAME [--param KEY=VALUE ...] [--opset K] [--dtype D]
                                [--target-dtype T] [--ndim K] [--grad] [--impl I] [--mask]
                                [--no-check-targets] -o FILE.onnx

NAME is a loss's function name (cross_entropy, dice_loss, ...); each --param sets one of its
parameters, the value read as a Python literal (numbers, True/False/None, lists, strings):
--param weight=[1,2,3] --param ignore_index=255 --param mode=multiclass.

Bad input (a parameter, an option, a file that cannot be written) is one line on stderr and
exit status 2, as argparse reports a bad option; never a traceback.

parity: a provider onnxruntime does not know (a typo) is such an error; a provider it knows
that this build cannot run is reported "unavailable", which fails only for the providers
named in --require.  Each run's data is seeded by what it checks, so --losses, --dtypes or
--ranks draw the same batches as the whole grid.
"""
import ast
import argparse
import sys

from . import __version__
from ._registry import BY_NAME


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


def _param(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    if key.startswith("_"):
        raise ValueError(f"--param takes the loss's parameters; {key} is internal")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return key, value          # a bare word: a string such as mean or multiclass


def _params(texts):
    params = {}
    for text in texts:
        key, value = _param(text)
        if key in params:
            raise ValueError(f"--param {key} is given twice")
        params[key] = value
    return params


def _open_for_writing(path, option):
    try:
        return open(path, "wb" if option == "-o" else "w")
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def _export(args):
    from .onnx import to_onnx
    loss = BY_NAME[args.name](**_params(args.param))
    model = to_onnx(loss, opset=args.opset, dtype=args.dtype, target_dtype=args.target_dtype,
                    ndim=args.ndim, grad=args.grad, impl=args.impl, mask=args.mask,
                    check_targets=args.check_targets)
    data = model.SerializeToString()
    with _open_for_writing(args.output, "-o") as fh:
        try:
            fh.write(data)
        except OSError as exc:
            raise UsageError(f"-o {args.output}: cannot write: {exc.strerror or exc}") \
                from None
    print(f"wrote {args.output}: {loss!r}, opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes")
    return 0


def _load_array(path, option):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{option} {path}: cannot read a .npy array: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None


def _parity_options(args):
    """The grid's keywords from the parity options, checked before anything runs."""
    import json
    kwargs = dict(losses=args.losses, impls=args.impls)
    if args.config is not None:
        if args.losses:
            raise UsageError("--config and --losses exclude each other: --config is one "
                             "configured loss")
        try:
            kwargs["config"] = json.loads(args.config)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--config must be JSON, got {args.config!r} ({exc})") from None
        from ._parity_grid import configured
        configured(kwargs["config"])        # an unknown loss or bad parameter fails now
    if (args.input is None) != (args.target is None):
        raise UsageError("--input and --target go together")
    if args.mask is not None and args.input is None:
        raise UsageError("--mask needs --input and --target")
    if args.input is not None:
        for option in ("dtypes", "ranks"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option} does not apply with --input (the file fixes "
                                 f"the input's dtype and shape)")
        if args.config is None and not args.losses:
            raise UsageError("--input needs --config or --losses: which loss to check")
        kwargs["batch"] = (_load_array(args.input, "--input"),
                           _load_array(args.target, "--target"),
                           None if args.mask is None else _load_array(args.mask, "--mask"))
    else:
        kwargs["dtypes"] = args.dtypes or ["float32", "float64", "float16"]
        kwargs["ranks"] = args.ranks or [2, 4, 5]
    return kwargs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m onnxlosses")
    parser.add_argument("--version", action="version", version=f"onnxlosses {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="compute, export and parity-check the losses")
    sub.add_parser("config", help="print the build configuration")
    from onnxruntime import get_all_providers
    providers = get_all_providers()     # what onnxruntime knows, whether this build runs it
    par = sub.add_parser("parity", help="parity grid over every loss and path")
    par.add_argument("--json", help="write every report here")
    par.add_argument("--dtypes", nargs="+", choices=["float32", "float64", "float16"],
                     help="default: all three")
    par.add_argument("--ranks", nargs="+", type=int, choices=[2, 3, 4, 5],
                     help="the input's number of axes (default: 2 4 5)")
    par.add_argument("--opsets", nargs="+", type=int)
    par.add_argument("--impls", nargs="+", choices=["composed", "native"],
                     default=["composed"],
                     help="graph forms to check (default: composed); native runs the ONNX "
                          "loss operators where they can express the configuration")
    par.add_argument("--providers", nargs="+", choices=providers, metavar="PROVIDER",
                     help="onnxruntime providers (default: CPUExecutionProvider and "
                          "CUDAExecutionProvider); one this onnxruntime cannot run is "
                          "reported unavailable")
    par.add_argument("--require", nargs="+", default=[], choices=providers,
                     metavar="PROVIDER",
                     help="fail when one of these providers is unavailable (CI)")
    par.add_argument("--losses", nargs="+", choices=sorted(BY_NAME), metavar="NAME",
                     help=f"only these losses' configurations ({', '.join(sorted(BY_NAME))})")
    par.add_argument("--config", help='one configured loss as JSON, e.g. {"loss": '
                     '"dice_loss", "mode": "multiclass", "ignore_index": 255}')
    par.add_argument("--input", help="a .npy file: check this batch's input instead of "
                     "generated data (with --config or --losses)")
    par.add_argument("--target", help="a .npy file: the target of --input")
    par.add_argument("--mask", help="a .npy file: a boolean mask for --input")
    pla = sub.add_parser("placement", help="which nodes of the exported losses get a CUDA "
                         "kernel in onnxruntime-gpu (no GPU needed)")
    pla.add_argument("--venv", default="build/placement-venv",
                     help="virtualenv holding onnxruntime-gpu (created when missing)")
    pla.add_argument("--install", default="onnxruntime-gpu", metavar="REQUIREMENT",
                     help="what pip installs into a new --venv: a requirement such as "
                          "onnxruntime-gpu==1.26.0, or a wheel file")
    pla.add_argument("--opsets", nargs="+", type=int,
                     help="default: 13 to the newest the onnxruntime-gpu build loads")
    pla.add_argument("--json", help="write every model's placement here")
    exp = sub.add_parser("export", help="write one configured loss as an ONNX model")
    exp.add_argument("name", choices=sorted(BY_NAME))
    exp.add_argument("-o", "--output", required=True)
    exp.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a parameter of the loss, e.g. weight=[1,2,3] or ignore_index=255")
    exp.add_argument("--opset", type=int)
    exp.add_argument("--dtype", default="float32")
    exp.add_argument("--target-dtype", default=None)
    exp.add_argument("--ndim", type=int)
    exp.add_argument("--grad", action="store_true")
    exp.add_argument("--impl", default="composed", choices=["composed", "native"])
    exp.add_argument("--mask", action="store_true")
    exp.add_argument("--no-check-targets", dest="check_targets", action="store_false",
                     help="leave out the graph's check of class-index targets (NaN loss "
                          "and gradient for a counted index outside [0, C))")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from ._demo import demo
            return demo()
        if args.command == "config":
            from ._config import show_config
            show_config()
            return 0
        if args.command == "parity":
            from ._parity_grid import run
            from .onnx import supported_opsets
            opsets = supported_opsets()
            for opset in args.opsets or []:
                if opset not in opsets:
                    raise ValueError(f"--opsets must be in [{opsets[0]}, {opsets[-1]}] (the "
                                     f"newest the installed onnxruntime runs), got {opset}")
            parity_kwargs = _parity_options(args)
            json_file = args.json and _open_for_writing(args.json, "--json")
            try:
                return run(opsets=args.opsets, providers=args.providers, require=args.require,
                           json_file=json_file, **parity_kwargs)
            finally:
                if json_file:
                    json_file.close()
        if args.command == "placement":
            from .placement import PlacementError, run as placement
            json_file = args.json and _open_for_writing(args.json, "--json")
            try:
                return placement(venv=args.venv, install=args.install, opsets=args.opsets,
                                 json_file=json_file)
            except PlacementError as exc:
                raise UsageError(str(exc)) from None
            finally:
                if json_file:
                    json_file.close()
        return _export(args)
    # Bad values and types from the library name their argument; OverflowError is a
    # number too large for a C integer (an ignore_index beyond int64, say).
    except (TypeError, ValueError, OverflowError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
