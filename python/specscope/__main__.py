"""``python -m specscope``: the CLI."""

from ._cli import main

main()
