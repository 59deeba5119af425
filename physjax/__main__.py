"""``python -m physjax``: the physjax command line (see :mod:`physjax.cli`)."""

from physjax.cli import main

raise SystemExit(main())
