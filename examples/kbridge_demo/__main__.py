"""``python -m kbridge_demo run|receiver``: the demo without the ``kbridge`` CLI."""

import sys

from kbridge_demo.run import main

sys.exit(main())
