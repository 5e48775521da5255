"""``python -m erc_lib.data convert PATH [--trust]``: the pickle-free copy of a feature pickle."""
from __future__ import annotations

import argparse
from pathlib import Path

from .safe_pickle import convert_pickle


def main(argv: list[str] | None = None) -> None:
    """``python -m erc_lib.data convert PATH [--trust]``: write the pickle-free copy of an
    authors'-format pickle (:func:`convert_pickle`) that later runs read instead."""
    parser = argparse.ArgumentParser(prog="python -m erc_lib.data", description=main.__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="write <pickle>.safe.npz beside a feature pickle")
    convert.add_argument("path", type=Path)
    convert.add_argument("--trust", action="store_true", help="the pickle may use other classes: load it as is")
    args = parser.parse_args(argv)
    print("wrote", convert_pickle(args.path, trust_pickle=args.trust))


if __name__ == "__main__":
    main()
