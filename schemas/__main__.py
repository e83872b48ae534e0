"""``python -m schemas [DIR]``: write the JSON Schema of every message (default docs/schemas)."""

import sys
from pathlib import Path

from schemas._jsonschema import write_all

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/schemas")
for path in write_all(target):
    print(path)
