"""`python -m bot` runs the bot, like `concerto run`."""

from __future__ import annotations

import sys

from bot.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
