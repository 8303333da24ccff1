"""ARMA(p, q) one-step prediction error (the paper's ARMA column).

Fit: per channel, statsmodels ``ARIMA(order=(arma_p, 0, arma_q), trend="c")`` (a constant mean
plus ARMA errors) by maximum likelihood on the last ``arma_max_train_points`` points of the
training block (all of them if 0). The parameters (const = the mean, ar.L*, ma.L*, sigma2 = the
innovation variance) are saved in ``arma.json``; nothing else is kept.

Score: the same model on the new series, filtered with the saved parameters (no refit). Channel
k's score at point t is the squared one-step-ahead prediction error divided by its variance,
``v_t^2 / F_t``: the Kalman filter's standardised innovation, squared. Once the filter has warmed
up (after p points for a pure AR, geometrically fast otherwise) F_t is the fitted innovation
variance sigma2, so the score is ``(x_t - prediction_t)^2 / sigma2``; at the first points F_t is
larger (the prediction there has only the stationary distribution to go on), which keeps them from
scoring high for want of history. The point's score is the largest over channels. Every point is scored.
"""

from __future__ import annotations

import json
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..config import read_json_file, write_text_atomic
from ..errors import DataError, UserError
from ..runs import refit_advice
from ..training import read_state, write_state
from .base import Detector, Scores

ARMA_FILE = "arma.json"
TREND = "c"
MAX_ITER = 50  # statsmodels' optimiser steps at most (MLEModel.fit's maxiter)
SLOW_FIT_SECONDS = 60  # fits that may take longer than this in all get a note before them, and a line after each


@contextmanager
def quiet_statsmodels():
    """Silence statsmodels' convergence and starting-parameter warnings (errors still raise)."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, EstimationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*starting (autoregressive|MA|moving average) parameters",
                                category=EstimationWarning)
        warnings.filterwarnings("ignore", message="Too few observations to estimate starting parameters",
                                category=EstimationWarning)  # a high order on a short block: it starts from zeros
        warnings.filterwarnings("ignore", message=".*[Nn]on-stationary starting", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*[Nn]on-invertible starting", category=UserWarning)
        yield


def arima_model(endog: np.ndarray, p: int, q: int):
    from statsmodels.tsa.arima.model import ARIMA

    return ARIMA(np.asarray(endog, dtype=float), order=(p, 0, q), trend=TREND)


def fit_channel(x: np.ndarray, p: int, q: int, start_params: np.ndarray | None = None) -> dict:
    """Fit one channel (from ``start_params``, by default statsmodels' own); returns its parameters by name, and
    whether the optimiser converged. No covariance of the parameters: nothing reads it, and its numerical Hessian
    costs some (p + q + 2)^2 / 2 more likelihood passes."""
    with quiet_statsmodels():
        model = arima_model(x, p, q)
        result = model.fit(start_params=start_params, cov_type="none")
    converged = bool(result.mle_retvals.get("converged", True)) if result.mle_retvals else True
    return {"params": dict(zip(model.param_names, map(float, result.params), strict=True)),
            "converged": converged, "n_points": int(len(x))}


def fit_seconds_bound(x: np.ndarray, p: int, q: int) -> tuple[float, np.ndarray]:
    """Roughly the most seconds a fit of the channel ``x`` takes, and its starting parameters (for ``fit_channel``,
    which then need not find them again): the optimiser takes at most ``MAX_ITER`` steps, each about p + q + 8
    likelihood passes (a gradient over the p + q + 2 parameters, and its line search), one pass timed here."""
    with quiet_statsmodels():
        model = arima_model(x, p, q)
        start = np.asarray(model.start_params)
        started = time.perf_counter()
        model.loglike(start)
        seconds = time.perf_counter() - started
    return MAX_ITER * (len(start) + 6) * seconds, start


def duration(seconds: float) -> str:
    """``seconds`` as a note says it: "40 s", "12 min", "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def standardised_squared_innovations(x: np.ndarray, p: int, q: int, params: dict) -> np.ndarray:
    """(n,) v_t^2 / F_t of one channel under fixed parameters: one Kalman filter pass, no fit."""
    with quiet_statsmodels():
        model = arima_model(x, p, q)
        values = np.array([params[name] for name in model.param_names])
        result = model.filter(values)
    return np.square(result.forecasts_error[0]) / result.forecasts_error_cov[0, 0]


def channel_label(k: int, names) -> str:
    """"channel k", with the data's name of it where known (counted from 0, so a name keeps a user off the next one)."""
    return f"channel {k} ({names[k]})" if names and k < len(names) else f"channel {k}"


def check_varies(series: np.ndarray, max_train_points: int, names=None) -> None:
    """One line when a channel of the points the ARMA fit takes holds one value: its fitted noise variance is then
    about 1e-11, and any later change on it scores around 1e10, outweighing every other channel."""
    flat = np.flatnonzero(np.ptp(series, axis=0) == 0)
    if flat.size:
        k = int(flat[0])
        which = (f"the last {len(series)} training points (arma_max_train_points)" if max_train_points
                 else f"the {len(series)} training points")
        fix = "raise arma_max_train_points, or set 0 for the whole training block" if max_train_points else \
            "leave that channel out"
        raise DataError(f"arma: {channel_label(k, names)} holds one value ({series[0, k]:g}) over {which} it fits, so it has no "
                        f"noise to scale its errors by: {fix}")


class ARMADetector(Detector):
    """Native unit: the point."""

    name = "arma"
    native_unit = "point"
    trained_files = (ARMA_FILE,)

    def __init__(self, config):
        super().__init__(config)
        self.channels: list[dict] | None = None

    @property
    def order(self) -> list[int]:
        return [self.config.arma_p, 0, self.config.arma_q]

    def fit(self, train_series, run_dir: Path) -> None:
        c, run_dir = self.config, Path(run_dir)
        self.check_training(train_series, 1, "point", run_dir)  # one series only: no segments, window_stride 1
        path = run_dir / ARMA_FILE
        if c.load_model and path.is_file() and self.matches(self.read_saved(path, quiet=True)):
            print(f"arma: already fitted in {run_dir}")
            self.load(run_dir)
            return
        needed = c.arma_p + c.arma_q + 2
        if 0 < c.arma_max_train_points < needed:  # checked on the points it fits, not the whole block
            raise UserError(f"arma_max_train_points = {c.arma_max_train_points} leaves fewer points than an "
                            f"ARMA({c.arma_p}, {c.arma_q}) fit needs ({needed}); set it to at least {needed}, "
                            "or 0 for the whole training block")
        series = self.check_series(train_series, needed, "ARMA fit")
        if c.arma_max_train_points:
            series = series[-c.arma_max_train_points:]
        check_varies(series, c.arma_max_train_points, self.channel_names)
        self.channels = self.fit_channels(series)
        for k, channel in enumerate(self.channels):
            if not channel["converged"]:
                print(f"arma: the fit of {channel_label(k, self.channel_names)} did not converge; its last parameters are kept")
        run_dir.mkdir(parents=True, exist_ok=True)
        saved = {"order": self.order, "trend": TREND, "max_train_points": c.arma_max_train_points,
                 "channels": self.channels}
        write_text_atomic(path, json.dumps(saved, indent=2) + "\n")
        state_path = run_dir / "state.json"  # so that the run folder counts as trained (runs.has_training)
        state = read_state(state_path)
        state["arma"] = 1
        write_state(state_path, state)

    def fit_channels(self, series: np.ndarray) -> list[dict]:
        """Each channel's fit. When they may take longer than ``SLOW_FIT_SECONDS`` in all (a high order, many points,
        many channels), a note says so before them, with the bound of ``fit_seconds_bound``, and a line after each
        channel's fit."""
        c, n_channels = self.config, series.shape[1]
        bound, start = fit_seconds_bound(series[:, 0], c.arma_p, c.arma_q)
        slow = bound * n_channels > SLOW_FIT_SECONDS
        if slow:
            each = f" per channel, {duration(bound * n_channels)} for its {n_channels} channels" * (n_channels > 1)
            print(f"note: arma: an ARMA({c.arma_p}, {c.arma_q}) fit on {len(series)} points may take up to about "
                  f"{duration(bound)}{each} (at most {MAX_ITER} optimiser steps of {c.arma_p + c.arma_q + 8} "
                  "Kalman-filter passes each); a lower arma_p or arma_q, or arma_max_train_points, makes it faster")
        channels = []
        for k in range(n_channels):
            started = time.perf_counter()
            channels.append(fit_channel(series[:, k], c.arma_p, c.arma_q, start if k == 0 else None))
            if slow:
                print(f"arma: {channel_label(k, self.channel_names)} fitted ({k + 1} of {n_channels}) in "
                      f"{duration(time.perf_counter() - started)}")
        return channels

    def read_saved(self, path: Path, quiet: bool = False) -> dict:
        """The saved fit; one line when it is damaged (with ``quiet``, fit notes it and fits again instead)."""
        try:
            return read_json_file(path, "")
        except UserError as e:
            if not quiet:  # the advice only now: it looks for the config's run folders
                raise UserError(f"{e}{refit_advice(self.config, path.parent)}") from None
            print(f"arma: {path.name} is damaged; fitting again")
            return {}

    def matches(self, saved: dict) -> bool:
        """Whether saved parameters were fitted with this config's order, trend and training length."""
        return (saved.get("order") == self.order and saved.get("trend") == TREND
                and saved.get("max_train_points") == self.config.arma_max_train_points
                and len(saved.get("channels", [])) == self.config.n_channel)

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        path = Path(run_dir) / ARMA_FILE
        saved = self.read_saved(path)
        order, n_channels = saved.get("order"), len(saved.get("channels", []))
        self.follow_channels(n_channels)
        if order != self.order or n_channels != self.config.n_channel:
            raise UserError(f"{path} holds an ARIMA of order {order} for {n_channels} channel(s); the config "
                            f"asks for order {self.order} on {self.config.n_channel}: "
                            f"{refit_advice(self.config, path.parent)}")
        self.channels = saved["channels"]

    def score(self, series) -> Scores:
        c = self.config
        self.require_fitted(self.channels)
        # a channel beyond the fitted ones would go unscored
        series = self.check_channels(self.check_series(series, 1, "point"), self.channels, len(self.channels))
        per_channel = np.stack([standardised_squared_innovations(series[:, k], c.arma_p, c.arma_q,
                                                                 channel["params"])
                                for k, channel in enumerate(self.channels)], axis=1)
        return Scores.from_points(per_channel.max(axis=1), channel_scores=per_channel)
