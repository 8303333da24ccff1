"""VAE-LSTM anomaly detection (Lin et al., ICASSP 2020) and the detectors it is compared with.

Modules: ``config`` (one validated JSON config), ``data_loader`` (series and their splits),
``windowing`` (windows, sequences and the one map from them to time), ``detectors`` (the detector
interface and registry), ``training`` and ``runs`` (generic training, run folders), ``detection``
and ``evaluation`` (scores -> threshold -> labels -> metrics), ``reproduce`` (Table 1), ``plotting``.
"""

from . import lean_imports, quiet

quiet.install()  # before TensorFlow is imported anywhere
lean_imports.install()  # before jsonschema is

__version__ = "0.2.0"
