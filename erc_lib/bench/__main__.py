"""``python -m erc_lib.bench``: the benchmark's command line (:func:`erc_lib.bench.cli.main`)."""
from .cli import main

main()
