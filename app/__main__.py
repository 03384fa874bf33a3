"""``python -m app``: the same as the ``distiller`` command."""

import sys

from app.cli import main

sys.exit(main())
