"""``python -m processors`` is the ``actionstream`` command."""

from processors.cli import main

main()
