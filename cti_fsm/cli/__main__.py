"""``python -m cti_fsm.cli``: the same as the ``cti-fsm`` console script."""

import sys

from . import main

sys.exit(main())
