import sys

from dsnworker.cli import main

sys.exit(main())
