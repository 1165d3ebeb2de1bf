import sys

from kiln.bench.cli import main

sys.exit(main())
