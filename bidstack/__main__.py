import sys

from bidstack.cli import main

sys.exit(main())
