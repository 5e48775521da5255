"""``python -m erc_lib.report``: the report's command line (:func:`erc_lib.report.cli.main`)."""
import sys

from .cli import main

sys.exit(main())
