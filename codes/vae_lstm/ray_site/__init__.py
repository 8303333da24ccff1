"""A folder put first on the PYTHONPATH of a local Ray instance's processes (``grid.start_local_ray``): its
``sitecustomize`` makes them import jsonschema as this package's processes do (``lean_imports``)."""
