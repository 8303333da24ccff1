"""Import libraries without an optional part that costs every command's start-up and that this project never uses.

jsonschema checks the "iri" string format with ``rfc3987_syntax`` when that is installed (Jupyter's packages install
it), and that library builds its grammar when imported: 1.2-1.4 s of CPU time in every process that loads a config
(train.py, detect.py, each grid worker). No schema here checks a string format, so jsonschema is imported as if the
library were missing; it stays importable for other code in the process.
"""

from __future__ import annotations

import importlib
import sys

# a library -> the optional library of its that is skipped
SKIPPED = {"jsonschema": "rfc3987_syntax"}


def install() -> None:
    for library, optional in SKIPPED.items():
        if library in sys.modules or optional in sys.modules:
            continue  # imported already: nothing left to save
        sys.modules[optional] = None  # an import of it raises ImportError, which the library takes as "not installed"
        try:
            importlib.import_module(library)
        finally:
            del sys.modules[optional]
