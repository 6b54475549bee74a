"""Shared test set-up: tests run from any folder, on the CPU, with few threads."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GENLAB_DEVICE", "cpu")
