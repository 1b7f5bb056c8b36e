"""``python -m kopek.cli``: the same as the ``kopek`` command."""

from kopek.cli.app import main

main()
