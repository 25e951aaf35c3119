import sys

from sync_core.app.cli import main

sys.exit(main())
