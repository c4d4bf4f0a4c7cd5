"""Test helpers live beside this file (pytest runs in importlib mode: no implicit sys.path)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
