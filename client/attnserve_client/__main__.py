"""``python -m attnserve_client`` is the ``attnserve`` command."""

import sys

from attnserve_client.cli import main

sys.exit(main())
