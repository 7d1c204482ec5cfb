import sys

from sparseloom.cli import main

sys.exit(main())
