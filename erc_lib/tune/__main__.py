"""``python -m erc_lib.tune``: the command line of :mod:`erc_lib.tune.cli`."""
import sys

from .cli import main

sys.exit(main())
