"""``python -m cxdata`` entry point."""
import sys

from cxdata.cli import main

if __name__ == "__main__":
    sys.exit(main())
