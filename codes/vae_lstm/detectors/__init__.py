"""The registry of detectors, by name. A new detector is one module plus one line here.

Names map to "module:Class" so that reading the registry (the config schema does) imports no
TensorFlow; ``get_detector`` imports the one that is asked for.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError, UserError, unknown_name

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
# Training keys by the detectors that read them. A detector's foreign keys are the groups its training never
# reads, so that a change of one leaves its trained files alone (``runs.training_changes``); a test records the
# keys each detector's training reads and fails when one of them is called foreign. Here, not on the classes, so
# that the check imports no TensorFlow.
VAE_KEYS = ("num_hidden_units", "vae_decoder_channels", "sigma", "sigma2_offset", "TRAIN_sigma", "code_std_floor",
            "learning_rate_vae", "lr_decay_vae", "adam_beta1", "adam_beta2", "grad_clip_value", "batch_size",
            "num_epochs_vae")
LSTM_STAGE_KEYS = ("num_hidden_units_lstm", "learning_rate_lstm", "batch_size_lstm", "num_epochs_lstm")
ARMA_KEYS = ("arma_p", "arma_q", "arma_max_train_points")
LSTM_VAE_KEYS = ("beta",)
LSTM_AD_KEYS = ("prediction_horizon",)
FOREIGN_KEYS = {
    "vae_lstm": ARMA_KEYS + LSTM_VAE_KEYS + LSTM_AD_KEYS,
    "vae": LSTM_STAGE_KEYS + ARMA_KEYS + LSTM_VAE_KEYS + LSTM_AD_KEYS,
    "lstm_ad": VAE_KEYS + ARMA_KEYS + LSTM_VAE_KEYS,
    "lstm_ae": VAE_KEYS + ARMA_KEYS + LSTM_VAE_KEYS + LSTM_AD_KEYS,
    "lstm_vae": VAE_KEYS + ARMA_KEYS + LSTM_AD_KEYS,
    "arma": VAE_KEYS + LSTM_STAGE_KEYS + LSTM_VAE_KEYS + LSTM_AD_KEYS + ("early_stopping_patience",),
}
# Scoring keys (config keys that change a detector's scores but not its training) by the detector that reads them:
# its class's ``scoring_keys``, kept here for the same reason.
SCORING_KEYS = {
    "vae_lstm": ("point_score", "point_smoothing", "point_spread", "trailing_scale", "error_scale", "second_term_weight",
                 "reconstruction_weight", "term_scale", "term_combine", "term_power", "context_scale"),
}
# point_score values that sum the prediction error and a second term, each over its training-block scale (term_scale)
BALANCED_SCORES = ("balanced", "balanced_level")
QUICK = ("arma", *CONTROLS)  # no neural model: seconds per run


def scoring_keys_for(detector: str, n_channel: int | None, config=None) -> tuple[str, ...]:
    """The scoring keys that can change ``detector``'s scores on data of ``n_channel`` channels (None: unknown), under
    ``config``'s other scoring keys (None: all of them can). Here, and not only on the classes (whose
    ``scoring_keys_for`` gives the same), so that summaries and notes import no TensorFlow."""
    keys = SCORING_KEYS.get(detector, ())
    if detector != "vae_lstm":
        return keys
    unused = set()
    if n_channel == 1:  # one channel: error_scale divides by a constant, the same scores' order and flags
        unused.add("error_scale")
    score = None if config is None else config.point_score
    if score == "max_sequence":  # the sequence scores, spread: no point-score key reads them
        unused.update(k for k in keys if k != "point_score")
    elif score is not None and score not in BALANCED_SCORES:  # the two terms' keys read the balanced ones only
        unused.update(("second_term_weight", "reconstruction_weight", "term_scale", "term_combine", "term_power"))
    elif score == "balanced":  # its second term is the VAE's error already
        unused.add("reconstruction_weight")
    return tuple(k for k in keys if k not in unused)


def unread_keys(detector: str) -> set[str]:
    """Config keys that ``detector`` never reads, as far as these registries say: its foreign training keys (a
    control's: every one that some model's training leaves out, as it trains nothing) and the other detectors'
    scoring keys. Not every key it ignores: one that these registries do not name (code_size for arma) is left out."""
    foreign = set().union(*FOREIGN_KEYS.values()) if detector in CONTROLS else set(FOREIGN_KEYS.get(detector, ()))
    scoring = set().union(*SCORING_KEYS.values()) - set(SCORING_KEYS.get(detector, ()))
    return foreign | scoring


def detector_class(name: str):
    if name not in DETECTORS:
        raise ConfigError(unknown_name("detector", name, DETECTORS))
    module, cls = DETECTORS[name].split(":")
    found = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    if found.name != name:  # detection keys its results by the class's name, the controls' among them
        raise UserError(f"detector {name!r} is registered as {DETECTORS[name]}, whose name is {found.name!r}: "
                        f"set name = {name!r} in that class (detection keys its results by it)")
    from .base import Detector

    if found.score is Detector.score:
        raise UserError(f"detector {name!r} ({DETECTORS[name]}) defines no score(series) returning a Scores")
    if found.fit is not Detector.fit and found.load is Detector.load:
        raise UserError(f"detector {name!r} ({DETECTORS[name]}) defines fit but not load: detect.py scores a trained "
                        "run in a new process, from what load(run_dir) reads back")
    return found


def get_detector(config):
    """The detector that ``config.detector`` names, built from the config."""
    return detector_class(config.detector)(config)
