"""Run at the start of each Python process of a local Ray instance (its dashboard, monitors, agents and workers):
jsonschema, which ``import ray`` loads, is imported without ``rfc3987_syntax`` as in this package's own processes
(``lean_imports``): building that library's grammar was about 1.3 s of the 2 s of CPU each of them spent importing
Ray, which on a busy machine made the raylet's agent miss Ray's fixed start-up deadline. A ``sitecustomize`` that
this one hides on the path is run after it."""

import importlib.machinery
import importlib.util
import os
import sys


def _run(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main() -> None:
    here = os.path.dirname(os.path.realpath(__file__))
    try:
        _run("_vae_lstm_lean_imports", os.path.join(os.path.dirname(here), "lean_imports.py")).install()
    except Exception:  # noqa: BLE001 - only a saving: the process goes on as without it
        pass
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]  # a symlink to it too
    hidden = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if hidden is not None and hidden.loader is not None:  # run as Python runs it: a package too, as the module named so
        module = importlib.util.module_from_spec(hidden)
        sys.modules["sitecustomize"] = module
        hidden.loader.exec_module(module)


_main()
