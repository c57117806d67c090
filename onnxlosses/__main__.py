"""Command line: `python -m onnxlosses demo`."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m onnxlosses")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="compute losses and gradients and check them against PyTorch")
    sub.add_parser("config", help="print the build configuration")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import demo
        return demo()
    if args.command == "config":
        from ._config import show_config
        show_config()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
