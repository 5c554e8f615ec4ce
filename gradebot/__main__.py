"""``python -m gradebot <command>``: see gradebot/frontends/cli.py."""

import sys

from gradebot.frontends.cli import main

if __name__ == "__main__":
    sys.exit(main())
