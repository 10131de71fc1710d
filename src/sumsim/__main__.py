import sys

from sumsim.cli import main

sys.exit(main())
