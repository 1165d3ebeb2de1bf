"""``python -m kiln``: the same command line as the ``kiln`` console script."""
import sys

from kiln.cli import main

if __name__ == "__main__":
    sys.exit(main())
