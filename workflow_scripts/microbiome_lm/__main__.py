"""``python -m microbiome_lm``: same as the ``microbiome-lm`` command."""

import sys

from .cli import main

sys.exit(main())
