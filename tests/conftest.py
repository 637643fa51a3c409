"""Test-wide setup: `helpers` (tests/helpers) is importable, and so is this collection as
`ansible_collections.ailab.stack` (through .collections/, the symlink scripts/lib.sh makes)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
_link = os.path.join(ROOT, ".collections", "ansible_collections", "ailab", "stack")
if not os.path.exists(_link):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    os.symlink(ROOT, _link)
sys.path.insert(0, os.path.join(ROOT, ".collections"))
