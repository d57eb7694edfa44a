"""``python -m voiceclone.emulator``: run the emulator until interrupted."""

import sys

from voiceclone.emulator._cli import main

sys.exit(main())
