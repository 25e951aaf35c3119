import sys

from sync_core.cli import main

sys.exit(main())
