"""Every matplotlib call of the project. Each function draws one PNG and returns its path."""

from __future__ import annotations

import os
import re
import textwrap
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import LogLocator, MaxNLocator  # noqa: E402

from .csv_data import gap_steps  # noqa: E402
from .detectors import CONTROLS  # noqa: E402
from .errors import naming_the_file  # noqa: E402
from .evaluation import segments  # noqa: E402

MAX_CHANNELS_SHOWN = 8  # a figure draws a panel per channel up to this many
LABEL_BAR = 0.04  # detections.png: the height of the labelled windows' bar along each panel's top (of the panel)
DPI = 110  # every figure is saved at this many pixels per inch


def channel_names(n_channel: int, names: list[str] | None = None) -> list[str]:
    """The names of a series' channels: ``names``, or by default "value" (one channel) or "ch0", "ch1", ..."""
    return list(names) if names else (["value"] if n_channel == 1 else [f"ch{k}" for k in range(n_channel)])


def channel_label(name: str) -> str:
    """A channel's panel's y label: its name wrapped at its spaces (a longer word within it) to lines of about 24
    characters (a spreadsheet's header, "Temperature sensor 3 in the north hall (°C)", ran past its panel into the
    next one's label and off the figure), over "(z-score)"."""
    return textwrap.fill(name, 24, break_on_hyphens=False) + "\n(z-score)"


def shown_channels(n_channel: int, names: list[str] | None = None) -> tuple[list[str], str]:
    """The names of the channels a figure draws (the first ``MAX_CHANNELS_SHOWN``; default "value", or "ch0",
    "ch1", ... as the series names them), and a note for its title when some are left out."""
    names = channel_names(n_channel, names)
    shown = min(n_channel, MAX_CHANNELS_SHOWN)
    return names[:shown], "" if shown == n_channel else f" [first {shown} of {n_channel} channels shown]"


def run_peak(series: np.ndarray, scores: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """The peak of the flagged run ``[a, b)`` of ``scores`` (a piece's, whose first point is row 0 of ``series``,
    (n, channels) training-standardised): the row and channel furthest from 0 over the points at the run's top
    score. A window or sequence detector gives a point the score of the worst unit covering it, so its top holds
    over that unit's points, and the value that made the unit worst lies anywhere among them."""
    run = np.asarray(scores[a:b], float)
    top = a + np.flatnonzero(run == run.max())
    far = np.nan_to_num(np.abs(series[top]))  # a missing value: 0
    i, k = np.unravel_index(int(np.argmax(far)), far.shape)
    return int(top[i]), int(k)


def flagged_channels(series: np.ndarray, pieces: list[dict], names: list[str] | None = None
                     ) -> tuple[list[int], str]:
    """The channels (indices, in the series' order) that detections.png draws of ``series`` (n, channels), and a
    note for its title when some are left out. Up to ``MAX_CHANNELS_SHOWN`` are drawn: all of them when there are
    no more; else each flagged run's peak channel (where its training-standardised value is furthest from 0 at the
    run's highest point score, ``run_peak``, as flagged_ranges.csv's peak_channel), those of the most runs first, then the channels
    furthest from 0 at any flagged point; with nothing flagged, the first ones (``shown_channels``)."""
    n_channel = series.shape[1]
    if n_channel <= MAX_CHANNELS_SHOWN:
        return list(range(n_channel)), ""
    runs = np.zeros(n_channel)  # the flagged runs whose peak each channel is
    furthest = np.zeros(n_channel)  # the largest |z| of each channel at a flagged point
    for piece in pieces:
        # the peaks of the point scores, where a rule compares their smoothing (dynamic): flagged_ranges.csv's
        flags, scores = np.asarray(piece["flags"], bool), np.asarray(piece.get("point_scores", piece["scores"]), float)
        for a, b in segments(flags):
            runs[run_peak(series[piece["start"]:], scores, a, b)[1]] += 1
        if flags.any():
            at = np.nan_to_num(np.abs(series[piece["start"] + np.flatnonzero(flags)]))  # a missing value: 0
            furthest = np.maximum(furthest, at.max(axis=0))
    if not runs.any():
        return list(range(MAX_CHANNELS_SHOWN)), shown_channels(n_channel, names)[1]
    ranked = np.lexsort((np.arange(n_channel), -furthest, -runs))  # most runs, then furthest, then the first
    shown = sorted(ranked[:MAX_CHANNELS_SHOWN].tolist())
    names = channel_names(n_channel, names)
    left = [names[k] for k in range(n_channel) if k not in shown]
    listed = ", ".join(left[:5]) + (", ..." if len(left) > 5 else "")
    return shown, (f" [{len(shown)} of {n_channel} channels shown: each flagged run's peak channel, then those "
                   f"furthest from 0 at flagged points; {len(left)} left out: {listed}]")


def whole_number_ticks(axis, values) -> None:
    """Ticks of ``axis`` (an x or y axis) at whole numbers only (epochs, windows): at each value when there are
    few (a locator finds no whole number in the view around a single one), else wherever a locator puts them."""
    values = np.unique(np.asarray(values))
    if len(values) <= 10:
        axis.set_ticks(values)
    else:
        axis.set_major_locator(MaxNLocator(integer=True))


def as_written(fig) -> None:
    """The figure's titles, axis labels, legends and notes drawn as written: a name (a column, a dataset) with two
    "$" in it is no math text, which dropped its signs or stopped the figure with a parse error. Tick labels keep
    math text (a log axis's powers of ten)."""
    texts = list(fig.texts) + [text for legend in fig.legends for text in legend.get_texts()]
    for ax in fig.axes:
        legend = ax.get_legend()
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts, *(legend.get_texts() if legend else ())]
    for text in texts:
        text.set_parse_math(False)


def finished_figures(folder, pattern: str = "*.png") -> list[Path]:
    """The figures in ``folder`` matching ``pattern``, sorted, without the ``<name>.tmp.png`` a kill while drawing
    (``_save``) left behind."""
    return sorted(p for p in Path(folder).glob(pattern) if not p.stem.endswith(".tmp"))


def tight_layout(fig) -> None:
    """``fig.tight_layout()``, the same layout, without the place-holder layout engine that it leaves on the figure:
    with one, ``savefig`` drew the whole figure once more (without rendering it) before drawing it into the file, a
    pass that a place holder, which lays out nothing, does not need (about a third of saving a figure). A figure
    that a matplotlibrc gave a layout engine (``figure.autolayout``, ``figure.constrained_layout.use``) goes through
    ``fig.tight_layout()``, which takes that engine off it: left on, it laid the figure out again as savefig drew it
    (constrained layout, undoing this one's)."""
    if fig.get_layout_engine() is not None:
        fig.tight_layout()
        return
    TightLayoutEngine().execute(fig)


def _save(fig, path: Path) -> Path:
    """Write the figure through ``<name>.tmp<suffix>`` and a rename: a kill while drawing leaves no half a
    figure (a finished stage draws a missing one again, ``BaseTrainer.draw_missing_figures``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    as_written(fig)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    try:
        with naming_the_file(path), warnings.catch_warnings(record=True) as caught:  # a full disk's OSError: no file
            warnings.simplefilter("always")
            tight_layout(fig)
            fig.savefig(tmp, dpi=DPI)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    missing, shown = [], set()  # matplotlib warns twice per character the font lacks, per drawing step: one line
    for warning in caught:
        glyph = MISSING_GLYPH.match(str(warning.message))
        if glyph is None and (str(warning.message), warning.category) not in shown:
            shown.add((str(warning.message), warning.category))  # once, as Python's default filter would show it
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)  # as filtered
        elif glyph is not None and chr(int(glyph[1])) not in missing:
            missing.append(chr(int(glyph[1])))
    if missing:
        print(f"note: {path.name}: the figure's font has no {' '.join(missing)}, drawn as boxes")
    return path


MISSING_GLYPH = re.compile(r"Glyph (\d+) .*missing from font")


def loss_curves(log_csv: Path, path: Path, title: str) -> Path | None:
    """Training and validation curves of every metric in a CSVLogger file; None, and no figure, without one
    (a damaged log set aside)."""
    if not Path(log_csv).is_file():
        return None
    log = pd.read_csv(log_csv)
    names = [c for c in log.columns if c != "epoch" and not c.startswith("val_") and c != "learning_rate"
             and not (c == "sigma2" and log[c].nunique() <= 1)]  # a fixed sigma is no curve
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    marker = "o" if len(log) <= 30 else None  # a short run's epochs stay visible (one epoch draws no line)
    for ax, name in zip(axes[0], names, strict=True):
        columns = [name] + ([f"val_{name}"] if f"val_{name}" in log else [])
        for column, label in zip(columns, ("train", "validation"), strict=False):
            ax.plot(log["epoch"] + 1, log[column], marker=marker, ms=3, label=label)
        ax.set_title(f"{title} {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        whole_number_ticks(ax.xaxis, log["epoch"] + 1)
        values = log[columns].to_numpy(float)
        values = values[np.isfinite(values)]
        if len(values) and values.min() > 0 and values.max() >= 10 * values.min():
            ax.set_yscale("log")  # a loss that falls by decades
        ax.grid(True)
        ax.legend()
    return _save(fig, path)


def reconstructions(windows: np.ndarray, rebuilt: np.ndarray, path: Path, channels: list[str] | None = None) -> Path:
    """Validation windows against their VAE reconstructions: one channel in two rows of windows (one row of one or
    two), several in a row of windows per channel (``shown_channels``, ``channels`` naming them)."""
    n, (names, note) = len(windows), shown_channels(windows.shape[-1], channels)
    rows, cols = ((2, (n + 1) // 2) if n > 2 else (1, n)) if len(names) == 1 else (len(names), n)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 5 if len(names) == 1 else 2.2 * rows), squeeze=False)
    for k in range(len(names)):
        for ax, window, rec in zip(axes.ravel() if len(names) == 1 else axes[k], windows, rebuilt, strict=False):
            ax.plot(window[:, k], label="window")
            ax.plot(rec[:, k], "r--", label="reconstruction")
            ax.grid(True)
    # the channel once per row and the x axis once per column: a label on every panel outgrew a panel's height at
    # several channels and ran into the title
    for row, name in zip(axes[:, 0], names * rows if len(names) == 1 else names, strict=True):
        row.set_ylabel(channel_label(name))
    for column in axes.T:  # an odd number of windows of one channel leaves the last row's last panel empty: hidden
        if not column[-1].lines:
            column[-1].axis("off")
        column[-1 if column[-1].lines else -2].set_xlabel("sample in window")
    axes.ravel()[0].legend(fontsize=7)
    # about 9 characters an inch: the figure of one or two windows is 3.2 or 6.4 inches wide
    fig.suptitle(textwrap.fill("VAE reconstructions of validation windows" + note, int(9 * fig.get_figwidth())))
    return _save(fig, path)


def prior_samples(windows: np.ndarray, path: Path, channels: list[str] | None = None) -> Path:
    """Windows decoded from codes drawn from the prior N(0, I), a panel per channel (``shown_channels``,
    ``channels`` naming them)."""
    names, note = shown_channels(windows.shape[-1], channels)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.2 + 2.3 * len(names)), sharex=True, squeeze=False)
    for k, (ax, name) in enumerate(zip(axes[:, 0], names, strict=True)):
        for window in windows:
            ax.plot(window[:, k], alpha=0.8)
        ax.set_ylabel(channel_label(name))
        ax.grid(True)
    axes[0, 0].set_title("windows decoded from prior samples" + note)
    axes[-1, 0].set_xlabel("sample in window")
    return _save(fig, path)


def predicted_codes(vae_codes: np.ndarray, lstm_codes: np.ndarray, path: Path) -> Path:
    """Each code dimension over one sequence: VAE code means against LSTM predictions."""
    code_size = vae_codes.shape[1]
    cols = min(code_size, 4)
    rows = (code_size + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.5 * cols, 2.8 * rows), squeeze=False)
    steps = np.arange(1, len(vae_codes) + 1)
    for i, ax in enumerate(axes.ravel()):
        if i >= code_size:
            ax.axis("off")
            continue
        ax.plot(steps, vae_codes[:, i], "o-", label="VAE code")
        ax.plot(steps, lstm_codes[:, i], "s--", label="LSTM prediction")
        ax.set_title(f"code dim {i}")
        ax.set_xlabel("window in sequence")
        ax.set_ylabel("code value")
        whole_number_ticks(ax.xaxis, steps)
        ax.grid(True)
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(textwrap.fill("VAE code means of one validation sequence's windows against the LSTM's predictions",
                               int(9 * fig.get_figwidth())))  # about 9 characters an inch: one or two codes' figure
    # is 3.5 or 7 inches wide, and the title ran off both edges
    return _save(fig, path)


def long_sequence(segment: np.ndarray, rebuilt_windows: np.ndarray, l_win: int, path: Path,
                  channels: list[str] | None = None) -> Path:
    """A whole sequence against the windows the decoder rebuilds from the LSTM's predicted codes, a panel per
    channel (``shown_channels``, ``channels`` naming them)."""
    names, note = shown_channels(segment.shape[-1], channels)
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.2 + 2.3 * len(names)), sharex=True, squeeze=False)
    for k, (ax, name) in enumerate(zip(axes[:, 0], names, strict=True)):
        ax.plot(np.arange(len(segment)), segment[:, k], label="data")
        rebuilt = rebuilt_windows[..., k].reshape(-1)
        ax.plot(np.arange(l_win, l_win + len(rebuilt)), rebuilt, "g--", label="rebuilt from LSTM codes")
        for j in range(1, len(segment) // l_win):
            ax.axvline(j * l_win, color="0.85", lw=0.8)
        ax.set_ylabel(channel_label(name))
        ax.grid(True, axis="y")
    axes[0, 0].set_title("one sequence rebuilt from LSTM-predicted codes" + note)
    axes[-1, 0].set_xlabel("time step in sequence")
    axes[0, 0].legend()
    return _save(fig, path)


def off_axis(threshold: float, scores: np.ndarray, log: bool) -> str | None:
    """Where a finite ``threshold`` lies when a line at it cannot show beside ``scores`` on their axis (``log``: a
    log axis), for a legend to say instead: "above every score" or "below every score". So lies one at or below 0
    on a log axis, and one so far out that the scores would keep under a tenth of the axis (a threshold_value of
    1e308 overflowed the log axis, which then showed no score at all). None when a line shows it."""
    if log and threshold <= 0:
        return "below every score"
    scale = np.log10 if log else float
    low, high = scale(np.nanmin(scores)), scale(np.nanmax(scores))
    width = (high - low) or 1.0  # scores all equal: a unit (a decade on a log axis) around them
    if scale(threshold) > high + 9 * width:
        return "above every score"
    return "below every score" if scale(threshold) < low - 9 * width else None


def score_histograms(val_scores: np.ndarray, test_scores: np.ndarray, threshold: float, path: Path,
                     title: str = "anomaly scores", threshold_label: str = "threshold") -> Path:
    """Distributions of validation and test scores, with the threshold."""
    fig, ax = plt.subplots(figsize=(7, 4))
    both = np.concatenate([val_scores, test_scores])
    positive = both.min() > 0
    bins = np.geomspace(both.min(), both.max(), 61) if positive and both.max() > both.min() else \
        np.histogram_bin_edges(both, bins=60)
    ax.hist(val_scores, bins=bins, alpha=0.6, density=True, label="validation")
    ax.hist(test_scores, bins=bins, alpha=0.6, density=True, label="test")
    if threshold is None or not np.isfinite(threshold):  # NaN: the rule cannot be set on these scores
        title += f"\n(no {threshold_label} on these scores)"
    elif where := off_axis(threshold, both, positive):
        ax.plot([], [], ls="none", label=f"{threshold_label} {threshold:.3g}, {where}")
    else:
        ax.axvline(threshold, color="r", ls="--", label=f"{threshold_label} {threshold:.3g}")
    ax.set_yscale("log")
    if positive:
        ax.set_xscale("log")
    ax.set_ylabel("density (log)")
    ax.set_xlabel("score" + (" (log)" if positive else ""))
    ax.set_title("\n".join(textwrap.fill(line, 70) for line in title.split("\n")))  # a long title wraps, not cut off
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)  # below: it hides no bar
    return _save(fig, path)


def broken_at_gaps(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``t`` and ``values`` with a NaN value inserted after each gap of ``t`` (``csv_data.gap_steps``: a step
    forward of over GAP_STEPS times the usual one, as the data's note counts them), so that a line drawn through
    them breaks there instead of joining the rows on either side of the gap."""
    t, values = np.asarray(t), np.asarray(values, float)
    gaps = gap_steps(t)[0] + 1
    return np.insert(t, gaps, t[gaps - 1]), np.insert(values, gaps, np.nan)


def vertical_bands(ax, starts, ends, ymin: float = 0.0, ymax: float = 1.0, **style):
    """Vertical bands on ``ax`` from each of ``starts`` to the matching one of ``ends`` (x positions: numbers or
    datetimes), from ``ymin`` to ``ymax`` of the panel's height (one for all, or one per band), as one artist. An ``axvspan`` per band took about
    a millisecond to add and as much to draw: minutes for the tens of thousands of runs that a noisy score flags on
    a long series."""
    from matplotlib.collections import PolyCollection

    x0 = np.asarray(ax.convert_xunits(np.asarray(starts)), float)
    x1 = np.asarray(ax.convert_xunits(np.asarray(ends)), float)
    low = np.broadcast_to(np.asarray(ymin, float), x0.shape)
    high = np.broadcast_to(np.asarray(ymax, float), x0.shape)
    corners = np.stack([np.column_stack(c) for c in ((x0, low), (x0, high), (x1, high), (x1, low))], axis=1)
    bands = PolyCollection(corners.reshape(-1, 4, 2), transform=ax.get_xaxis_transform(), **style)
    ax.add_collection(bands, autolim=False)  # its y is the panel's height, not data
    if len(x0):  # the x range takes in the bands, as axvspan's did (a span ending on the last row keeps its width)
        ax.dataLim.update_from_data_xy(np.column_stack([[x0.min(), x1.max()], [0.0, 0.0]]), ignore=False,
                                       updatey=False)
        ax.autoscale_view()
    return bands


def column_shares(positions: np.ndarray, marked: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of the rows at ``positions`` (x positions, as floats) in each column between consecutive ``edges``
    that are ``marked``; 0 in a column with no row."""
    column = np.clip(np.searchsorted(edges, positions, side="right") - 1, 0, len(edges) - 2)
    rows = np.bincount(column, minlength=len(edges) - 1)
    hits = np.bincount(column, weights=np.asarray(marked, float), minlength=len(edges) - 1)
    return np.divide(hits, rows, out=np.zeros(len(rows)), where=rows > 0)


def share_bars(ax, edges: np.ndarray, shares: np.ndarray, ymin: float = 0.0, ymax: float = 1.0, **style):
    """A bar per column between consecutive ``edges`` (x positions, floats) with a share above 0, from ``ymin``
    up by its share of ``ymax - ymin`` (of the panel's height), as one artist with no edge: the area drawn is the
    share marked."""
    keep = np.flatnonzero(shares > 0)
    return vertical_bands(ax, edges[keep], edges[keep + 1], ymin, ymin + shares[keep] * (ymax - ymin),
                          linewidth=0, **style)


def detections(series: np.ndarray, pieces: list[dict], anomaly_idx: np.ndarray, point_labels: np.ndarray | None,
               train_span: tuple[int, int], path: Path, title: str, y_scale: float = 5.0,
               channels: list[str] | None = None, times: np.ndarray | None = None, utc: bool = False,
               score_label: str = "point score", threshold_label: str = "threshold",
               joins: list[int] | None = None) -> Path:
    """The whole normalised series, one panel per channel (up to ``MAX_CHANNELS_SHOWN``: those the flags point
    at, ``flagged_channels``, with a note when there are more), with the training block, the labelled anomaly windows (shaded red, and a red bar
    along the panel's top that the detected spans cannot hide), the
    label timestamps (dashed), the detected spans (shaded orange) and the point scores beneath. On a time
    axis the lines break where the data skip time (``broken_at_gaps``), as NAB's ambient_temp does for up to 7 days.

    ``pieces`` holds, per test piece: start (time index), scores and flags (per point), threshold, and the point
    scores whose peaks say which channels to draw when ``scores`` are a smoothing of them (``point_scores``).
    ``times``: a datetime64 per point, for a time axis (default: the 0-based index). ``score_label``: what the
    scores beneath are (a rule may threshold a smoothing of the point scores); ``threshold_label``: what their
    dashed line is (the rule's threshold), both named in the score panel's own legend. ``joins``: the index where
    each test piece (a file) begins right after another ends, a dotted line each (default: the joins of ``pieces``;
    a caller whose pieces leave out one too short to score gives those of every piece).
    """
    series = np.asarray(series, float).reshape(len(series), -1)
    n = len(series)
    t = np.arange(n) if times is None else np.asarray(times)

    gaps, usual = gap_steps(t) if times is not None else (np.array([], int), 1.0)
    usual = usual if np.isfinite(usual) else 0.0  # under two steps forward: no usual step
    step = np.timedelta64(int(usual), "ns") if np.issubdtype(t.dtype, np.datetime64) else usual
    before_gap = set((gaps + 1).tolist())  # the rows that follow a gap

    def x(i):  # the axis position of index i
        return t[min(int(i), n - 1)] if times is not None else i

    def end(b):  # where a span of rows ending before row b stops: row b, or one usual step after row b - 1 when
        # there is no row b or a gap comes before it (not across the gap, nor with no width at the last row)
        if times is None or (b < n and b not in before_gap):
            return x(b)
        return t[int(b) - 1] + step

    def bands(ax, rows, ymin=0.0, ymax=1.0, label=None, **style):
        """The spans of rows [a, b) as one artist (``vertical_bands``); those narrower than a pixel column, which
        would be drawn a pixel or more wide (thousands of one-point runs on a long series looked like all of it),
        as the share of rows in each column that they hold (``share_bars``)."""
        rows = np.asarray(rows, int).reshape(-1, 2)
        starts, ends = [x(a) for a in rows[:, 0]], [end(b) for b in rows[:, 1]]
        drawn = vertical_bands(ax, starts, ends, ymin, ymax, label=label, **style) if not len(rows) else None
        if len(rows):
            to_float = lambda v: np.asarray(ax.convert_xunits(np.asarray(v)), float)  # noqa: E731
            lo, hi = to_float([x(0), end(n)])
            columns = max(1, int(ax.get_position().width * fig.get_figwidth() * DPI))
            narrow = to_float(ends) - to_float(starts) < (hi - lo) / columns
            drawn = vertical_bands(ax, np.asarray(starts)[~narrow], np.asarray(ends)[~narrow], ymin, ymax,
                                   label=label, **style)
            if narrow.any():
                marked = np.zeros(n + 1, int)
                np.add.at(marked, rows[narrow, 0], 1)
                np.add.at(marked, rows[narrow, 1], -1)
                edges = np.linspace(lo, hi, columns + 1)
                share_bars(ax, edges, column_shares(to_float(t), np.cumsum(marked[:n]) > 0, edges), ymin, ymax,
                           **style)
        return drawn

    drawn, note = flagged_channels(series, pieces, channels)
    channels, shown = [channel_names(series.shape[1], channels)[k] for k in drawn], len(drawn)
    fig, axes = plt.subplots(shown + 1, 1, figsize=(14, 2.2 + 1.9 * shown + 1.6), sharex=True,
                             height_ratios=[2] * shown + [1.4], squeeze=False)
    axes = axes[:, 0]
    ax_score = axes[-1]
    if joins is None:
        joins = [p["start"] for before, p in zip(pieces, pieces[1:], strict=False)
                 if p["start"] == before["start"] + len(before["scores"])]
    joins = [join for join in joins if 0 < join < n]
    for join in joins:
        ax_score.axvline(x(join), color="0.35", lw=0.6, ls=":")
    for i, (k, ax) in enumerate(zip(drawn, axes[:-1], strict=True)):
        ax.plot(*broken_at_gaps(t, series[:, k]), lw=0.7, color="0.2", label="data (training z-score)")
        ax.axvspan(x(train_span[0]), end(train_span[1]), color="tab:blue", alpha=0.08, label="training block")
        labelled = segments(point_labels) if point_labels is not None else np.zeros((0, 2), int)
        bands(ax, labelled, color="tab:red", alpha=0.15)
        bands(ax, np.concatenate([piece["start"] + segments(np.asarray(piece["flags"], bool)) for piece in pieces]
                                 or [np.zeros((0, 2), int)]), color="tab:orange", alpha=0.35)
        # a bar along the top, over the detected spans, that they cannot hide
        bands(ax, labelled, ymin=1 - LABEL_BAR, color="tab:red", zorder=3,
              label="labelled anomaly window" if len(labelled) else None)
        for j, join in enumerate(joins):  # where one test piece (a file) ends and the next begins
            ax.axvline(x(join), color="0.35", lw=0.6, ls=":", label=None if j else "test piece boundary")
        if len(anomaly_idx):
            ax.vlines([x(a) for a in anomaly_idx], 0, 1, transform=ax.get_xaxis_transform(), colors="r",
                      linestyles="--", lw=1, label="label timestamp")
        low, high = np.nanmin(series[:, k]), np.nanmax(series[:, k])  # y_scale widens, never clips
        bottom, top = min(-y_scale, low - 0.5), max(y_scale, high + 0.5)
        if len(labelled):
            top += (top - bottom) * LABEL_BAR / (1 - LABEL_BAR)  # the labels' bar above the data, not over it
        ax.set_ylim(bottom, top)
        ax.set_ylabel(channel_label(channels[i]))
    handles, _ = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="tab:orange", alpha=0.35, label="detected"))
    axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8)  # beside the data
    # a line per about 9 characters an inch of the panel's width at the title's size: a long dataset name, or the
    # note on the channels left out, ran off both edges of the figure on one line
    width = int(9 * axes[0].get_position().width * fig.get_figwidth())
    axes[0].set_title(textwrap.fill(title + note, width))
    scores = np.concatenate([np.asarray(p["scores"], float) for p in pieces]) if pieces else np.ones(1)
    scores = scores[np.isfinite(scores)]  # NaN: a point the detector left unscored, drawn as a break
    log = len(scores) > 0 and scores.min() > 0  # none scored: a linear axis, a line at the threshold
    scores = scores if len(scores) else np.ones(1)
    lines, unshown = 0, []
    for k, piece in enumerate(pieces):  # the legend names the scores and the threshold once, not once per piece
        span = piece["start"] + np.arange(len(piece["scores"]))
        ax_score.plot(*broken_at_gaps(t[span], piece["scores"]), lw=0.7, color="tab:purple",
                      label=None if k else score_label)
        threshold = float(piece["threshold"])
        where = off_axis(threshold, scores, log) if np.isfinite(threshold) else None
        if np.isfinite(threshold) and where is None:  # NaN, inf, -inf, or off the axis: no line
            ax_score.hlines(threshold, x(span[0]), x(span[-1]), color="r", ls="--", lw=0.8,
                            label=None if lines else threshold_label)
            lines += 1
        else:
            unshown.append("none on these scores, flags nothing" if np.isnan(threshold) else
                           "inf, flags nothing" if threshold == np.inf else "-inf, flags every point"
                           if threshold == -np.inf else f"{threshold:.3g}, {where}, flags " + (
                               "nothing" if where.startswith("above") else "every scored point"))
    if unshown and not lines:  # the legend says what the threshold is, not that a line shows it
        ax_score.plot([], [], ls="none", label=f"{threshold_label}: {unshown[0]}")
    if pieces:  # beside the scores, as the data's legend is beside the data
        ax_score.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8)
    if log:
        ax_score.set_yscale("log")
        if scores.max() >= 10 * scores.min():  # over a decade or two of scores, the short panel's minor ticks were
            # labelled at 2, 3, 4 and 6 times each power of ten, running into each other: at 2 and 5 times it only
            ax_score.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax_score.set_ylabel(textwrap.fill(score_label, 16))  # "EWMA-smoothed point score" outgrew the panel's height
    ax_score.set_xlabel("time index (0-based)" if times is None else "time (UTC)" if utc else "time")
    return _save(fig, path)


def metric_bars(values: dict[str, float], path: Path, metric: str, title: str) -> Path:
    """One bar per detector (controls included) for a threshold-free metric such as VUS-PR."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 0.9 * len(values)), 3.4))
    names = list(values)
    colors = ["0.6" if n in CONTROLS else "tab:blue" for n in names]
    bars = ax.bar(names, [values[n] for n in names], color=colors)
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(f"{values[name]:.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    width = int(10 * fig.get_figwidth())  # characters at fontsize 10: a long dataset name ran off both edges
    ax.set_title("\n".join([textwrap.fill(title, width), "(grey: controls)"]), fontsize=10)
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


CHART_METRICS = (("vus_pr", "VUS-PR"), ("auc_pr", "AUC-PR"))  # results.png: the tables' leading metrics


def results_chart(results: pd.DataFrame, path: Path, title: str) -> Path | None:
    """results.png of a grid's summary: per series, each detector's VUS-PR and AUC-PR over all its test points
    (``pieces`` "all"), the mean over seeds with a bar from the lowest to the highest seed; the controls in
    grey, ``random`` hatched. None, and no figure, when no row has these metrics (unlabelled data)."""
    rows = results[results["pieces"].astype(str) == "all"] if "pieces" in results else results
    metrics = [(key, name) for key, name in CHART_METRICS if key in rows and rows[key].notna().any()]
    if rows.empty or not metrics:
        return None
    series = list(dict.fromkeys(rows["series"]))
    detectors = list(dict.fromkeys(rows["detector"]))
    detectors = sorted((d for d in detectors if d not in CONTROLS), key=lambda d: d != "vae_lstm") + [
        d for d in CONTROLS if d in detectors]  # the VAE-LSTM first, the controls last
    palette = iter(plt.get_cmap("tab10").colors)
    colors = {d: "0.75" if d == "random" else "0.45" if d in CONTROLS else next(palette) for d in detectors}
    width = 0.8 / len(detectors)
    inches = max(6.0, 1.0 + 0.28 * len(series) * len(detectors))
    # the series' names turned where, level, one would run into the next: about 0.065 inches a character at
    # fontsize 8, against the about 0.7 * inches / len(series) between two ticks (the legend beside the panels)
    longest = 0.065 * max(len(str(s)) for s in series)
    turned = len(series) > 4 or longest > 0.7 * inches / len(series)
    below, line = 0.0, int(13 * inches)  # characters of a title line at fontsize 9: a wider title was cut off at
    # both edges (of the width before the room for turned names, which is the left margin's, not the title's)
    if turned:  # at 30 degrees a name reaches half its length below its panel, and 0.87 of it left of its tick:
        # the figure grows by what the level names' row and the left margin do not hold (the first name ran off
        # the left edge, and the names squeezed the panels to half their height)
        below = max(0.0, 0.5 * longest - 0.2)
        inches += max(0.0, 0.87 * longest - 0.25 * inches / len(series) - 0.3)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(inches, (2.9 + below) * len(metrics) + 0.6), squeeze=False)
    for ax, (key, name) in zip(axes[:, 0], metrics, strict=True):
        for k, detector in enumerate(detectors):
            by_series = rows[rows["detector"] == detector].groupby("series", sort=False)[key]
            mean, low, high = (by_series.agg(f).reindex(series).to_numpy(float) for f in ("mean", "min", "max"))
            x = np.arange(len(series)) + (k - (len(detectors) - 1) / 2) * width
            seeds = by_series.count().reindex(series).fillna(0).to_numpy(int)
            spread = np.where(seeds > 1, np.clip([mean - low, high - mean], 0, None), np.nan)  # rounding: >= 0
            ax.bar(x, mean, width, color=colors[detector], hatch="//" if detector == "random" else None,
                   edgecolor="white", linewidth=0.5, label=detector, yerr=spread, error_kw={"lw": 0.8, "capsize": 1.5})
            for at in x[np.isnan(mean)]:  # undefined (or not run): no bar would read as a score of 0
                ax.text(at, 0.01, "n/a", rotation=90, ha="center", va="bottom", fontsize=6, color="0.3")
        ax.set_xticks(np.arange(len(series)), series, fontsize=8, **({"rotation": 30, "ha": "right",
                      "rotation_mode": "anchor"} if turned else {}))  # turned: each name ends at its tick
        ax.set_ylim(0, 1.0)
        ax.set_ylabel(name)
        ax.grid(axis="y", alpha=0.3)
    defined = rows[rows[[key for key, _ in metrics]].notna().any(axis=1)]  # the seeds each bar is the mean of
    seeds = defined.groupby(["series", "detector"])["seed"].nunique() if "seed" in rows else pd.Series([1])
    counts = f"{seeds.min()} to {seeds.max()}" if seeds.min() < seeds.max() else f"{seeds.max()}"
    what = f"mean over {counts} seeds, bars from the lowest to the highest" if seeds.max() > 1 else "one seed"
    axes[0, 0].set_title("\n".join(textwrap.fill(text, line) for text in (
        title, f"over each series' test points; {what}; grey: the controls")), fontsize=9)
    # beside the upper panel: below the lower one, it lay across the series' names once they were turned
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    if turned:  # laid out once here and once more as saved: the first name's room on the left, taken in one pass,
        # was too short by what the legend's room took off the panels' width (the first tick moved left with it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # _save's own pass shows what its layout warns of
            tight_layout(fig)
    return _save(fig, path)


def precision_recall(curves: list[dict], path: Path,
                     title: str = "precision-recall of the sequence scores (the paper's labels)") -> Path:
    """Precision-recall curves: each dict has label, precision, recall, ap."""
    fig, ax = plt.subplots(figsize=(5, 5.2))
    for c in curves:
        control = c["label"] in CONTROLS
        ax.plot(c["recall"], c["precision"], ls="--" if control else "-",
                label=f"{c['label']}{' (control)' if control else ''} (AP {c['ap']:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(True)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)  # below: it hides no curve
    ax.set_title(textwrap.fill(title, 60), fontsize=9)  # a long dataset name wraps instead of being cut off
    return _save(fig, path)
