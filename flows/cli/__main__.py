"""``python -m flows.cli``: the same as the ``taskforce`` script."""

from flows.cli import main

main()
