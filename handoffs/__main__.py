"""``python -m handoffs``: the same command line as ``handoffs``."""

from handoffs.cli import main

main(prog_name="handoffs")
