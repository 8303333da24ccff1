"""Import libraries without an optional part that costs every command's start-up and that this project never uses.

jsonschema checks the "iri" string format with ``rfc3987_syntax`` when that is installed (Jupyter's packages install
it), and that library builds its grammar when imported: 1.2-1.4 s of CPU time in every process that loads a config
(train.py, detect.py, each grid worker). No schema here checks a string format, so jsonschema is imported as if the
library were missing; it stays importable for other code in the process, and jsonschema's "iri" and "iri-reference"
checks, which other code may use, are registered as jsonschema registers them, importing it at their first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

# a library -> the optional library of its that is skipped
SKIPPED = {"jsonschema": "rfc3987_syntax"}


class _Refused:
    """A meta path finder that refuses to find the skipped libraries (the library then takes them as not installed),
    noting which were asked for."""

    def __init__(self, names):
        self.names, self.asked = set(names), set()

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.names:
            self.asked.add(top)
            raise ModuleNotFoundError(f"No module named {name!r} (skipped while its user is imported)", name=name)
        return None


def install() -> None:
    for library, optional in SKIPPED.items():
        if library in sys.modules or optional in sys.modules:
            continue  # imported already: nothing left to save
        refused = _Refused([optional])
        sys.meta_path.insert(0, refused)
        try:
            importlib.import_module(library)
        finally:
            sys.meta_path.remove(refused)
        if optional in refused.asked and importlib.util.find_spec(optional) is not None:
            LATER[optional]()


def _iri_checks() -> None:
    """jsonschema's checks of the "iri" and "iri-reference" formats (drafts 7, 2019-09 and 2020-12, and a
    ``FormatChecker()``), as it registers them with rfc3987_syntax; that library is imported when one first runs."""
    import jsonschema

    def check(rule):
        def conforms(instance) -> bool:
            if not isinstance(instance, str):
                return True
            from rfc3987_syntax import is_valid_syntax

            return is_valid_syntax(rule, instance)
        return conforms

    for name, rule in (("iri", "iri"), ("iri-reference", "iri_reference")):
        if name in jsonschema.FormatChecker.checkers:
            continue  # the library registered it another way
        conforms = check(rule)
        for validator in (jsonschema.Draft7Validator, jsonschema.Draft201909Validator,
                          jsonschema.Draft202012Validator):
            validator.FORMAT_CHECKER.checks(name, raises=ValueError)(conforms)
        jsonschema.FormatChecker.checkers[name] = (conforms, ValueError)


# an optional library -> what restores the library's use of it, without importing it yet
LATER = {"rfc3987_syntax": _iri_checks}
