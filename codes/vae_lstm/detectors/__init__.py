"""The registry of detectors, by name. A new detector is one module plus one line here.

Names map to "module:Class" so that reading the registry (the config schema does) imports no
TensorFlow; ``get_detector`` imports the one that is asked for.
"""

from __future__ import annotations

import importlib

DETECTORS = {
    "vae_lstm": "vae_lstm:VAELSTMDetector",   # the paper's hybrid
    "vae": "vae:VAEDetector",                 # the VAE alone (the paper's VAE column)
    "lstm_ad": "lstm_ad:LSTMADDetector",      # stacked LSTM predictor, Gaussian errors (Malhotra et al. 2015)
    "lstm_ae": "lstm_ae:LSTMAEDetector",      # LSTM encoder-decoder reconstructing windows
    "lstm_vae": "lstm_vae:LSTMVAEDetector",   # LSTM encoder and decoder, Gaussian latent, MSE + KL
    "arma": "arma:ARMADetector",              # ARMA(p, q) one-step prediction error (the paper's ARMA column)
    "random": "controls:RandomDetector",      # control: seeded uniform scores
    "abs_z": "controls:AbsZDetector",         # control: |training-standardised value|, largest over channels
}
CONTROLS = ("random", "abs_z")
QUICK = ("arma", *CONTROLS)  # no neural model: seconds per run


def detector_class(name: str):
    if name not in DETECTORS:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    module, cls = DETECTORS[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get_detector(config):
    """The detector that ``config.detector`` names, built from the config."""
    return detector_class(config.detector)(config)
