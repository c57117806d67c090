"""Command line:

    python -m onnxlosses --version
    python -m onnxlosses demo
    python -m onnxlosses config
    python -m onnxlosses parity [--json FILE] [--dtypes ...] [--ranks ...] [--opsets ...]
                                [--providers ...]
    python -m onnxlosses export NAME [--param KEY=VALUE ...] [--opset K] [--dtype D]
                                [--target-dtype T] [--ndim K] [--grad] [--impl I] [--mask]
                                -o FILE.onnx

NAME is a loss's function name (cross_entropy, dice_loss, ...); each --param sets one of its
parameters, the value read as a Python literal (numbers, True/False/None, lists, strings):
--param weight=[1,2,3] --param ignore_index=255 --param mode=multiclass.
"""
import ast
import argparse
import sys

from . import __version__

LOSSES = {
    "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss", "focal_loss": "FocalLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "sigmoid_focal_loss": "SigmoidFocalLoss", "dice_loss": "DiceLoss",
    "jaccard_loss": "JaccardLoss", "tversky_loss": "TverskyLoss",
    "generalized_dice_loss": "GeneralizedDiceLoss",
}


def _param(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value          # a bare word: a string such as mean or multiclass


def _export(args):
    import onnxlosses
    params = dict(_param(p) for p in args.param)
    loss = getattr(onnxlosses, LOSSES[args.name])(**params)
    model = loss.to_onnx(opset=args.opset, dtype=args.dtype, target_dtype=args.target_dtype,
                         ndim=args.ndim, grad=args.grad, impl=args.impl, mask=args.mask)
    with open(args.output, "wb") as fh:
        fh.write(model.SerializeToString())
    print(f"wrote {args.output}: {loss!r}, opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m onnxlosses")
    parser.add_argument("--version", action="version", version=f"onnxlosses {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="compute, export and parity-check the losses")
    sub.add_parser("config", help="print the build configuration")
    par = sub.add_parser("parity", help="parity grid over every loss and path")
    par.add_argument("--json", help="write every report here")
    par.add_argument("--dtypes", nargs="+", default=["float32", "float64", "float16"])
    par.add_argument("--ranks", nargs="+", type=int, default=[2, 4, 5])
    par.add_argument("--opsets", nargs="+", type=int)
    par.add_argument("--providers", nargs="+",
                     help="onnxruntime providers (default: CPU, and CUDA when listed)")
    exp = sub.add_parser("export", help="write one configured loss as an ONNX model")
    exp.add_argument("name", choices=sorted(LOSSES))
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
            return run(dtypes=args.dtypes, ranks=args.ranks, opsets=args.opsets,
                       providers=args.providers, json_path=args.json)
        return _export(args)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
