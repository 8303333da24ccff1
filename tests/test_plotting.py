"""The figures say what they show: axis labels, scales that fit the data, no misleading panels."""

import warnings

import numpy as np
import pandas as pd
import pytest

from vae_lstm import plotting


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Keep the figure that a plotting function saves, instead of closing it."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return path

    monkeypatch.setattr(plotting, "_save", keep)
    yield figures
    for fig in figures:
        plotting.plt.close(fig)


def test_constant_sigma_gets_no_panel(captured, tmp_path):
    log = pd.DataFrame({"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.0], "kl": [1.0, 0.9, 0.8],
                        "sigma2": [0.02, 0.02, 0.02], "val_loss": [3.1, 2.1, 1.1]})
    log.to_csv(tmp_path / "log.csv", index=False)
    plotting.loss_curves(tmp_path / "log.csv", tmp_path / "x.png", "VAE")
    assert [ax.get_title() for ax in captured[0].axes] == ["VAE loss", "VAE kl"]
    log["sigma2"] = [0.02, 0.03, 0.04]  # trained sigma: its curve is shown
    log.to_csv(tmp_path / "log.csv", index=False)
    plotting.loss_curves(tmp_path / "log.csv", tmp_path / "x.png", "VAE")
    assert "VAE sigma2" in [ax.get_title() for ax in captured[1].axes]


def test_score_histogram_uses_log_axes_with_labels(captured, tmp_path):
    val, test = np.linspace(0.5, 2.0, 50), np.concatenate([np.linspace(0.5, 2.0, 50), [11000.0]])
    plotting.score_histograms(val, test, 5.0, tmp_path / "h.png")
    ax = captured[0].axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() and ax.get_xlabel()


def test_detections_show_deep_dips_and_no_sliver(captured, tmp_path):
    series = np.zeros((300, 1))
    series[250] = -8.0  # a dip below the default y_scale of 5
    pieces = [{"start": 200, "scores": np.linspace(1, 2, 100), "flags": np.arange(100) > 90, "threshold": 1.9}]
    labels = np.zeros(300, bool)
    labels[240:260] = True
    plotting.detections(series, pieces, np.array([250]), labels, (0, 200), tmp_path / "d.png", "t", 5.0)
    ax, ax_score = captured[0].axes
    assert ax.get_ylim()[0] < -8.0 and ax.get_ylabel() and ax_score.get_ylabel()
    spans = span_extents(ax, "tab:orange")
    assert spans == [(291, 300)]  # no zero-width "detected" span drawn at time 0


def test_figures_under_a_smoothing_rule_say_what_they_draw(captured, tmp_path):
    """Under `dynamic` the score panel drew smoothed scores labelled "point score", the histogram's title named a
    threshold it did not draw, and the codes' window axis had ticks at 1.5, 2.5."""
    pieces = [{"start": 10, "scores": np.linspace(1, 2, 10), "flags": np.zeros(10, bool), "threshold": 1.5}]
    plotting.detections(np.zeros((20, 1)), pieces, np.array([], int), None, (0, 10), tmp_path / "d.png", "t",
                        score_label="EWMA-smoothed point score")
    assert captured[-1].axes[-1].get_ylabel() == "EWMA-smoothed\npoint score"
    plotting.score_histograms(np.linspace(1, 2, 20), np.linspace(1, 3, 20), float("nan"), tmp_path / "h.png",
                              "scores", "dynamic threshold")
    ax = captured[-1].axes[0]
    assert not ax.lines and ax.get_title() == "scores\n(no dynamic threshold on these scores)"
    plotting.predicted_codes(np.zeros((3, 2)), np.ones((3, 2)), tmp_path / "c.png")
    ticks = captured[-1].axes[0].get_xticks()
    assert len(ticks) and np.all(ticks == np.round(ticks))


def test_reconstructions_have_axis_labels(captured, tmp_path):
    windows = np.zeros((4, 8, 1))
    plotting.reconstructions(windows, windows, tmp_path / "r.png")
    axes = np.reshape(captured[0].axes, (2, 2))
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["value\n(z-score)"] * 2  # each row says what it draws
    assert all(ax.get_xlabel() == "sample in window" for ax in axes[-1])


def drawn_channels(fig, data: np.ndarray, panels: int | None = None) -> list[int]:
    """The channel of ``data`` (..., channels) that each panel's first line draws, panel by panel (the first
    ``panels`` panels: default all)."""
    return [next(k for k in range(data.shape[-1]) if np.isin(ax.lines[0].get_ydata(), data[..., k]).all())
            for ax in fig.axes[:panels] if ax.lines]


def test_training_figures_show_every_channel(captured, tmp_path):
    """The VAE-LSTM's training figures once drew channel 0 alone: several channels now get a row of panels each
    (the first MAX_CHANNELS_SHOWN, the title saying so when there are more); one channel is drawn as before."""
    windows = np.random.default_rng(0).standard_normal((4, 8, 3))
    plotting.reconstructions(windows, windows, tmp_path / "r.png")
    plotting.prior_samples(windows, tmp_path / "p.png")
    plotting.long_sequence(windows.reshape(-1, 3), windows[1:], 8, tmp_path / "l.png")
    rebuilt, prior, long = captured
    assert drawn_channels(rebuilt, windows) == [0] * 4 + [1] * 4 + [2] * 4  # a row of the 4 windows per channel
    assert drawn_channels(prior, windows) == drawn_channels(long, windows) == [0, 1, 2]
    assert [ax.get_ylabel() for ax in prior.axes] == ["ch0\n(z-score)", "ch1\n(z-score)", "ch2\n(z-score)"]
    plotting.prior_samples(windows, tmp_path / "p.png", ["flow", "pressure", "temp"])  # a CSV's column names
    assert [ax.get_ylabel().split("\n")[0] for ax in captured.pop().axes] == ["flow", "pressure", "temp"]
    assert "channels shown" not in prior.axes[0].get_title()
    many = np.random.default_rng(1).standard_normal((2, 8, plotting.MAX_CHANNELS_SHOWN + 2))
    plotting.prior_samples(many, tmp_path / "p.png")
    assert drawn_channels(captured[-1], many) == list(range(plotting.MAX_CHANNELS_SHOWN))
    assert captured[-1].axes[0].get_title().endswith(
        f"[first {plotting.MAX_CHANNELS_SHOWN} of {plotting.MAX_CHANNELS_SHOWN + 2} channels shown]")
    one = windows[..., :1]
    plotting.reconstructions(one, one, tmp_path / "r.png")
    plotting.prior_samples(one, tmp_path / "p.png")
    plotting.long_sequence(one.reshape(-1, 1), one[1:], 8, tmp_path / "l.png")
    assert [len(fig.axes) for fig in captured[-3:]] == [4, 1, 1]  # two rows of two windows; one panel each
    assert captured[-2].axes[0].get_title() == "windows decoded from prior samples"


def test_detections_of_many_channels_show_those_the_flags_point_at(captured, tmp_path):
    """detections.png drew the first MAX_CHANNELS_SHOWN channels of a wider series, so the channel that a flagged run
    stood out in (flagged_ranges.csv's peak_channel) could be the one left out. It draws each flagged run's peak
    channel, then those furthest from 0 at the flagged points, in the file's order, and the title says how many are
    left out; a series with nothing flagged shows its first channels, as before."""
    shown = plotting.MAX_CHANNELS_SHOWN
    n_channel = shown + 3
    series = np.random.default_rng(0).uniform(-1, 1, (200, n_channel))
    flagged_rows = np.r_[148:153, 168:173]
    series[flagged_rows] = 0.1 * np.arange(n_channel)  # at the flagged points: the later the channel, the further
    series[150, n_channel - 1] = 6.0  # the peak of the first flagged run stands out in the last channel
    series[170, n_channel - 2] = -4.0  # the second run's peak: in the one before it
    series[171, 0] = 3.0  # within that run, not at its peak
    scores = np.ones(100)
    scores[[50, 70]] = 5.0  # rows 150 and 170
    flags = np.zeros(100, bool)
    flags[48:53] = flags[68:73] = True
    pieces = [{"start": 100, "scores": scores, "flags": flags, "threshold": 2.0}]
    names = [f"s{k}" for k in range(n_channel)]
    plotting.detections(series, pieces, np.array([], int), None, (0, 100), tmp_path / "d.png", "t", channels=names)
    fig = captured[-1]
    drawn = drawn_channels(fig, series, panels=shown)
    assert drawn == [0, 4, 5, 6, 7, 8, 9, 10]  # the peaks' 10 and 9, then 0 (3.0), 8 (0.8), 7, ..., 4 (0.4)
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes[:shown]] == [names[k] for k in drawn]
    assert fig.axes[0].get_title().replace("\n", " ") == (f"t [{shown} of {n_channel} channels shown: each flagged run's peak channel, "
                                       f"then those furthest from 0 at flagged points; 3 left out: s1, s2, s3]")
    pieces[0]["flags"] = np.zeros(100, bool)  # nothing flagged: the first channels
    plotting.detections(series, pieces, np.array([], int), None, (0, 100), tmp_path / "d.png", "t")
    assert drawn_channels(captured[-1], series, panels=shown) == list(range(shown))
    assert captured[-1].axes[0].get_title() == f"t [first {shown} of {n_channel} channels shown]"


def laid_out(fig):
    """The figure laid out as ``_save`` lays it out, drawn: its renderer, for the extents of what it shows."""
    fig.tight_layout()
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_loss_curves_of_a_short_run_show_each_epoch_at_whole_numbers(captured, tmp_path):
    """One epoch drew no visible line, and the epoch axis had ticks at 1.2, 1.4 (two epochs) or 0.96 (one)."""
    for losses in ([3.0], [3.0, 2.0]):
        log = pd.DataFrame({"epoch": range(len(losses)), "loss": losses, "val_loss": losses})
        log.to_csv(tmp_path / "log.csv", index=False)
        plotting.loss_curves(tmp_path / "log.csv", tmp_path / "x.png", "LSTM")
        ax = captured[-1].axes[0]
        assert list(ax.get_xticks()) == list(range(1, len(losses) + 1))
        assert all(line.get_marker() not in (None, "None", "") for line in ax.lines)
        assert ax.get_ylabel() == "loss" and ax.get_xlabel() == "epoch"


def test_loss_curves_falling_by_decades_are_on_a_log_axis(captured, tmp_path):
    log = pd.DataFrame({"epoch": range(4), "loss": [150.0, 20.0, 3.0, 1.0], "kl": [16.0, 11.0, 10.5, 10.2],
                        "neg": [150.0, -5.0, -20.0, -25.0]})
    log.to_csv(tmp_path / "log.csv", index=False)
    plotting.loss_curves(tmp_path / "log.csv", tmp_path / "x.png", "VAE")
    assert [ax.get_yscale() for ax in captured[0].axes] == ["log", "linear", "linear"]  # a negative loss: no log


def test_predicted_codes_of_one_window_tick_that_window(captured, tmp_path):
    """With l_seq 2 the LSTM predicts one window: its axis had ticks 0.945 .. 1.05, their labels overlapping."""
    plotting.predicted_codes(np.zeros((1, 2)), np.ones((1, 2)), tmp_path / "c.png")
    ax = captured[0].axes[0]
    assert list(ax.get_xticks()) == [1] and ax.get_ylabel() == "code value" and captured[0].get_suptitle()


@pytest.mark.parametrize("code_size", [1, 2])
def test_the_predicted_codes_title_of_a_small_code_stays_inside_the_figure(captured, tmp_path, code_size):
    """A figure 3.5 inches wide per code dimension: of code_size 1 or 2, its 84-character title ran off both
    edges ("ode means of one validation sequence's windows against the LSTM's predict")."""
    plotting.predicted_codes(np.zeros((3, code_size)), np.ones((3, code_size)), tmp_path / "c.png")
    fig = captured[-1]
    fig.tight_layout()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert fig.get_suptitle().replace("\n", " ") == ("VAE code means of one validation sequence's windows against the "
                                                     "LSTM's predictions")


def test_precision_recall_keeps_its_title_and_hides_no_curve(captured, tmp_path):
    """The title ran off the figure's right edge ("... (the paper's labe"), and the legend sat on the curves."""
    recall = np.linspace(0, 1, 50)
    curves = [{"label": name, "precision": np.full(50, level), "recall": recall, "ap": level}
              for name, level in (("vae_lstm", 0.2), ("random", 0.1), ("abs_z", 0.95))]
    title = "ambient_temp: precision-recall of the sequence scores (the paper's labels)"
    plotting.precision_recall(curves, tmp_path / "pr.png", title)
    fig = captured[0]
    ax = fig.axes[0]
    renderer = laid_out(fig)
    box = ax.title.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and ax.title.get_text().replace("\n", " ") == title
    legend = ax.get_legend().get_window_extent(renderer)
    points = np.concatenate([line.get_transform().transform(line.get_xydata()) for line in ax.lines])
    assert not any(legend.contains(x, y) for x, y in points)
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "--"]  # the controls, dashed
    assert [t.get_text().split(" (AP")[0] for t in ax.get_legend().get_texts()] == [
        "vae_lstm", "random (control)", "abs_z (control)"]


def test_reconstructions_of_eight_channels_overlap_nothing(captured, tmp_path):
    """Eight channels with SKAB's names: a label on every panel, longer than the panel, ran into the title."""
    names = ["Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple",
             "Voltage", "Volume Flow RateRMS"]
    windows = np.random.default_rng(0).standard_normal((8, 9, 8))
    plotting.reconstructions(windows, windows, tmp_path / "r.png", names)
    fig = captured[0]
    renderer = laid_out(fig)
    title = fig._suptitle.get_window_extent(renderer)
    below = [box.y1 <= title.y0 + 2 or box.x1 <= title.x0 or box.x0 >= title.x1  # 2 px: the title's own padding
             for ax in fig.axes for box in (ax.get_window_extent(renderer), ax.yaxis.label.get_window_extent(renderer))]
    assert all(below)
    axes = np.reshape(fig.axes, (8, 8))
    assert [ax.get_ylabel().split("\n")[0] for ax in axes[:, 0]] == names
    assert not any(ax.get_ylabel() for ax in axes[:, 1:].ravel())


@pytest.mark.parametrize("n, channels", [(1, 1), (2, 1), (3, 1), (5, 1), (2, 3)])
def test_the_reconstructions_of_few_windows_keep_their_title_and_show_no_empty_panel(captured, tmp_path, n, channels):
    """A small series leaves a few validation windows: of one channel, an odd number of them left an empty panel with
    axes (and its column no x label), and one or two ran the title off both edges ("AE reconstructions of validation
    window")."""
    windows = np.random.default_rng(0).standard_normal((n, 8, channels))
    plotting.reconstructions(windows, windows, tmp_path / "r.png")
    fig = captured[0]
    box = fig._suptitle.get_window_extent(laid_out(fig))
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert fig.get_suptitle().replace("\n", " ") == "VAE reconstructions of validation windows"
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == n * channels and all(len(ax.lines) == 2 for ax in shown)
    assert drawn_channels(fig, windows) == [k for k in range(channels) for _ in range(n)]
    columns = {}
    for ax in shown:  # the lowest shown panel of each column names the x axis
        columns.setdefault(round(ax.get_position().x0, 3), []).append(ax)
    assert all(min(col, key=lambda ax: ax.get_position().y0).get_xlabel() == "sample in window"
               for col in columns.values())


def test_long_channel_names_stay_inside_the_figure_and_apart(captured, tmp_path):
    """A spreadsheet's header names a channel in words ("Temperature sensor 3 in the north hall (°C)"): as one line
    of a panel's y label it ran past the panel, into the next panel's label and off the figure's top. A name is
    wrapped at its spaces (a word longer than a line, within it) to fit beside its panel; a short one (Volume Flow
    RateRMS) stays one line."""
    names = ["Temperature sensor 3 in the north hall (°C)", "pressure_at_the_inlet_of_pump_2_in_hPa",
             "Volume Flow RateRMS"]
    windows = np.random.default_rng(0).standard_normal((4, 8, 3))
    plotting.prior_samples(windows, tmp_path / "p.png", names)  # as reconstructions and long_sequence label them
    series = windows.reshape(-1, 3)
    pieces = [{"start": 16, "scores": np.ones(16), "flags": np.zeros(16, bool), "threshold": 2.0}]
    plotting.detections(series, pieces, np.array([], int), None, (0, 16), tmp_path / "d.png", "t", channels=names)
    for fig in captured:
        renderer = laid_out(fig)
        labels = [ax.yaxis.label for ax in fig.axes if ax.get_ylabel() and ax.get_ylabel() != "point score"]
        boxes = [label.get_window_extent(renderer) for label in labels]
        assert len(boxes) == 3
        assert all(b.y0 >= 0 and b.y1 <= fig.bbox.y1 and b.x0 >= 0 for b in boxes)
        assert not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
        shown = ["".join(label.get_text().split("\n")[:-1]) for label in labels]  # the name's lines, then (z-score)
        assert [text.replace(" ", "") for text in shown] == [name.replace(" ", "") for name in names]
        assert labels[2].get_text() == "Volume Flow RateRMS\n(z-score)"


def test_labelled_windows_stay_visible_where_everything_is_flagged(captured, tmp_path):
    """SKAB valve1: every test point is flagged, and the orange detected spans hid the pale red labelled
    windows. A red bar along each panel's top shows them, above the data."""
    series = np.zeros((400, 2))
    series[:, 1] = np.linspace(-60, 5, 400)  # its top reaches the default margin
    labels = np.zeros(400, bool)
    labels[250:300] = True
    pieces = [{"start": 200, "scores": np.ones(200), "flags": np.ones(200, bool), "threshold": 0.5}]
    plotting.detections(series, pieces, np.array([250]), labels, (0, 200), tmp_path / "d.png", "t",
                        channels=["flow", "pressure"])
    fig = captured[0]
    laid_out(fig)
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = image.shape[0]
    for ax in fig.axes[:2]:
        def pixel(x, y_axes, ax=ax):
            px, _ = ax.transData.transform((x, 0))
            _, py = ax.transAxes.transform((0, y_axes))
            return image[height - 1 - int(py), int(px)]

        red, green, _ = pixel(275, 0.985)  # on the bar, inside the labelled window
        assert red > 180 and green < 60
        red, green, _ = pixel(350, 0.985)  # flagged, not labelled: orange shading only
        assert green > 150
        assert ax.get_ylim()[1] - series[:, fig.axes.index(ax)].max() > 0.03 * np.ptp(ax.get_ylim())
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["flow\n(z-score)", "pressure\n(z-score)"]


def test_detections_break_their_lines_where_the_data_skip_time(captured, tmp_path):
    """NAB's ambient_temp skips hours in places: a line drawn straight across such a gap looks like data."""
    times = np.datetime64("2024-01-01T00:00") + np.arange(300).astype("timedelta64[h]")
    times[150:] += np.timedelta64(2, "D")  # two days without a row, between rows 149 and 150
    series = np.sin(np.arange(300) / 7.0)[:, None]
    pieces = [{"start": 100, "scores": np.linspace(1, 2, 200), "flags": np.zeros(200, bool), "threshold": 1.9}]
    plotting.detections(series, pieces, np.array([]), None, (0, 100), tmp_path / "d.png", "t", times=times)
    ax, ax_score = captured[0].axes
    for line, before in ((ax.lines[0], 150), (ax_score.lines[0], 50)):  # the score line starts at row 100
        y = line.get_ydata()
        assert np.isnan(y[before]) and np.isnan(y).sum() == 1
        np.testing.assert_array_equal(np.delete(y, before), (series[:, 0] if line in ax.lines else pieces[0]["scores"]))
    # an even spacing keeps its line whole, as does the index axis
    plotting.detections(series, pieces, np.array([]), None, (0, 100), tmp_path / "d.png", "t")
    assert not np.isnan(captured[1].axes[0].lines[0].get_ydata()).any()


def test_broken_at_gaps_hand_computed():
    t, y = plotting.broken_at_gaps(np.array([0, 1, 2, 30, 31, 32, 33]), np.arange(7.0))
    np.testing.assert_array_equal(t, [0, 1, 2, 2, 30, 31, 32, 33])
    np.testing.assert_array_equal(y, [0, 1, 2, np.nan, 3, 4, 5, 6])
    # a step of exactly ten times the usual one is not a gap; more is
    assert not np.isnan(plotting.broken_at_gaps(np.array([0, 1, 2, 12, 13]), np.arange(5.0))[1]).any()
    assert np.isnan(plotting.broken_at_gaps(np.array([0, 1, 2, 13, 14]), np.arange(5.0))[1]).sum() == 1


def test_broken_at_gaps_measures_the_usual_step_as_the_data_note_does():
    """A file kept in its own order (time_order "file") may repeat times: the usual step is that of the steps
    forward, as csv_data counts gaps, not 0, which would break the line at every row."""
    t = np.repeat(np.arange(6), 2)  # each time twice: steps 0, 1, 0, 1, ...
    assert not np.isnan(plotting.broken_at_gaps(t, np.arange(12.0))[1]).any()
    t[8:] += 20  # a gap of 21 usual steps after row 7, on a datetime axis too
    dated = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[m]")
    for axis in (t, dated):
        got_t, got_y = plotting.broken_at_gaps(axis, np.arange(12.0))
        np.testing.assert_array_equal(np.flatnonzero(np.isnan(got_y)), [8])
        assert got_t[8] == axis[7]


def test_detected_spans_stop_at_a_gap_and_last_row_keeps_its_width(captured, tmp_path):
    """On a time axis a span of rows [a, b) was drawn to row b's time: a point flagged just before a two-day gap
    shaded the whole gap, and one flagged at the last row was drawn with no width. Each span ends one usual step
    after its last row there."""
    times = np.datetime64("2024-01-01T00:00") + np.arange(300).astype("timedelta64[h]")
    times[150:] += np.timedelta64(2, "D")  # no row for two days between rows 149 and 150
    flags = np.zeros(200, bool)
    flags[[49, 199]] = True  # rows 149 (before the gap) and 299 (the last)
    pieces = [{"start": 100, "scores": np.linspace(1, 2, 200), "flags": flags, "threshold": 1.9}]
    labels = np.zeros(300, bool)
    labels[140:150] = True  # a labelled window that ends at the gap too
    plotting.detections(np.zeros((300, 1)), pieces, np.array([140]), labels, (0, 100), tmp_path / "d.png", "t",
                        times=times)
    ax = captured[0].axes[0]
    hour = 1 / 24  # matplotlib's dates are in days
    spans = sorted((a, round((b - a) / hour, 4)) for a, b in span_extents(ax, "tab:orange"))
    x = plotting.matplotlib.dates.date2num
    assert spans == [(round(x(times[149]), 6), 1.0), (round(x(times[299]), 6), 1.0)]
    label_widths = {round((b - a) / hour, 4) for a, b in span_extents(ax, "tab:red")}
    assert label_widths == {10.0}


def test_names_with_dollar_signs_are_drawn_as_written(monkeypatch, tmp_path):
    """A channel or dataset name with two dollar signs was read as matplotlib's math text: "a$\\frac$b" stopped
    detect.py with a traceback from its parser, and "price ($) vs cost ($)" lost its signs and spaces."""
    kept = []
    monkeypatch.setattr(plotting.plt, "close", kept.append)  # the real _save, which draws; the figure kept
    pieces = [{"start": 50, "scores": np.linspace(1, 2, 50), "flags": np.zeros(50, bool), "threshold": 1.9}]
    for name in ("a$\\frac$b", "x$^$y", "price ($) vs cost ($)"):
        path = plotting.detections(np.zeros((100, 1)), pieces, np.array([]), None, (0, 50), tmp_path / "d.png",
                                   f"{name}: detections", channels=[name])
        ax = kept[-1].axes[0]
        assert path.is_file() and ax.get_ylabel() == f"{name}\n(z-score)"
        assert not ax.yaxis.label.get_parse_math() and not ax.title.get_parse_math()
    assert kept[-1].axes[-1].yaxis.get_ticklabels()[0].get_parse_math()  # the log axis's powers of ten stay math
    monkeypatch.undo()
    for fig in kept:
        plotting.plt.close(fig)


def test_characters_the_font_lacks_are_named_in_one_line(capsys, tmp_path):
    """A channel named in Chinese (or with an emoji) printed two lines of matplotlib warning per character and
    per drawing step; one line now names the characters drawn as boxes."""
    pieces = [{"start": 50, "scores": np.linspace(1, 2, 50), "flags": np.zeros(50, bool), "threshold": 1.9}]
    plotting.detections(np.zeros((100, 1)), pieces, np.array([]), None, (0, 50), tmp_path / "d.png",
                        "温度: detections", channels=["温度"])
    out, err = capsys.readouterr()
    assert err == ""
    assert out == "note: d.png: the figure's font has no 温 度, drawn as boxes\n"


def test_a_warning_repeated_while_a_figure_is_drawn_is_shown_once(monkeypatch, tmp_path):
    """Warnings caught while drawing (to fold the missing-glyph ones into one line) were passed on once per
    occurrence, which Python's default filter would have shown once."""
    import warnings

    fig = plotting.plt.figure()

    def noisy_tight_layout(*args, **kwargs):
        for _ in range(3):
            warnings.warn("a layout warning", UserWarning, stacklevel=1)

    monkeypatch.setattr(plotting, "tight_layout", noisy_tight_layout)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        plotting._save(fig, tmp_path / "f.png")
    assert [str(w.message) for w in shown] == ["a layout warning"]


def results_frame(labelled=True):
    """Two series x (arma, vae_lstm, random, abs_z) x 2 seeds, each with its pooled row ("all") and a piece row
    whose figures the chart must not take."""
    rows = []
    for s, series in enumerate(("a", "b")):
        for d, detector in enumerate(("arma", "random", "vae_lstm", "abs_z")):
            for seed in (0, 1):
                value = 0.1 * (d + 1) + 0.05 * s + 0.02 * seed if labelled else np.nan
                rows += [{"series": series, "detector": detector, "seed": seed, "pieces": "all",
                          "vus_pr": value, "auc_pr": value / 2},
                         {"series": series, "detector": detector, "seed": seed, "pieces": "0",
                          "vus_pr": 0.99, "auc_pr": 0.99}]
    return pd.DataFrame(rows)


def test_the_results_chart_draws_each_detectors_mean_and_seed_range_over_all_test_points(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(plotting, "_save", lambda fig, path: drawn.append(fig) or path)
    assert plotting.results_chart(results_frame(), tmp_path / "r.png", "grid") == tmp_path / "r.png"
    [fig] = drawn
    vus, auc = fig.axes
    from matplotlib.container import BarContainer

    names = vus.get_legend_handles_labels()[1]
    assert names == ["vae_lstm", "arma", "random", "abs_z"]  # the model first, the controls last
    # vae_lstm (d = 2): 0.3 + 0.05 s + 0.01 mean over seeds 0 and 1; arma (d = 0): 0.1 + ...
    bars = [c for c in vus.containers if isinstance(c, BarContainer)]
    heights = [[round(bar.get_height(), 6) for bar in container] for container in bars]
    assert heights == [[0.31, 0.36], [0.11, 0.16], [0.21, 0.26], [0.41, 0.46]]
    assert [round(b.get_height(), 6) for b in next(c for c in auc.containers if isinstance(c, BarContainer))] == \
        [0.155, 0.18]
    segments = bars[0].errorbar.lines[2][0].get_segments()  # vae_lstm's bars: seed 0 to seed 1
    assert [(round(lo[1], 6), round(hi[1], 6)) for lo, hi in segments] == [(0.3, 0.32), (0.35, 0.37)]
    plotting.plt.close(fig)


def test_the_results_chart_is_none_for_unlabelled_results(tmp_path):
    assert plotting.results_chart(results_frame(labelled=False), tmp_path / "r.png", "grid") is None
    assert not (tmp_path / "r.png").exists()


def test_the_score_histograms_title_of_an_unlabelled_run_is_not_cut_off(captured, tmp_path):
    """KLSE's runs (no labels) drew "close: lstm_ae sequence scores (no labels, so no metric; the flags are at the point
    scor", cut off at both edges: the line that says no metric is shown was the one lost. It wraps now."""
    title = ("KLSE_close: lstm_ae sequence scores (no labels, so no metric; the flags are at the point scores' "
             "threshold)")
    plotting.score_histograms(np.linspace(1, 2, 20), np.linspace(1, 3, 20), 1.7, tmp_path / "h.png", title,
                              "train_max sequence threshold")
    fig = captured[0]
    ax = fig.axes[0]
    box = ax.title.get_window_extent(laid_out(fig))
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and ax.title.get_text().replace("\n", " ") == title


def test_detections_draw_many_spans_as_one_artist_each_kind(captured, tmp_path):
    """A noisy score on a long series flags tens of thousands of one-point runs (a random score at the
    contamination rule on a million rows: 36,000), and thousands of labelled windows: an axvspan per run and
    per panel took about a millisecond each to add and as much to draw, minutes for detections.png. Each kind of
    span is one collection per panel, at the same places (on a series short enough that a point is wider than a
    pixel column: narrower runs are drawn as their share of each column)."""
    n = 1000
    flags = np.zeros(500, bool)
    flags[::2] = True  # 250 one-point runs
    labels = np.zeros(n, bool)
    starts = np.arange(500, n, 20)
    for a in starts:
        labels[a:a + 5] = True  # 25 labelled windows
    pieces = [{"start": 500, "scores": np.linspace(1, 2, 500), "flags": flags, "threshold": 1.5}]
    plotting.detections(np.zeros((n, 2)), pieces, starts, labels, (0, 500), tmp_path / "d.png", "t")
    for ax in captured[0].axes[:2]:
        assert len(ax.patches) + len(ax.collections) + len(ax.lines) < 10
        assert span_extents(ax, "tab:orange") == [(500 + 2 * k, 501 + 2 * k) for k in range(250)]
        assert span_extents(ax, "tab:red") == [(a, a + 5) for a in starts] * 2  # shading and the bar above it


def span_extents(ax, color: str) -> list[tuple]:
    """The [x0, x1) of every vertical band of ``color`` drawn on ``ax`` (patches or collections), rounded."""
    rgb = plotting.matplotlib.colors.to_rgb(color)
    out = [(round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6)) for p in ax.patches
           if hasattr(p, "get_width") and tuple(p.get_facecolor()[:3]) == rgb]
    for c in ax.collections:
        if len(c.get_facecolor()) and tuple(c.get_facecolor()[0][:3]) == rgb:
            out += [(round(v[:, 0].min(), 6), round(v[:, 0].max(), 6)) for v in (p.vertices for p in c.get_paths())]
    return out


def chart_frame(series, detectors, seeds=(0, 1)) -> pd.DataFrame:
    return pd.DataFrame([{"series": s, "detector": d, "seed": seed, "pieces": "all", "vus_pr": 0.5, "auc_pr": 0.4}
                         for s in series for d in detectors for seed in seeds])


@pytest.mark.parametrize("n_series", [1, 5])
def test_the_results_charts_title_and_legend_stay_inside_the_figure(captured, tmp_path, n_series):
    """skab_valve1's results.png (one dataset, eight detectors) cut its title off at both edges ("...grey: the
    con") and its legend too ("ab" for abs_z): both were wider than the 6-inch figure. They wrap now."""
    detectors = ["vae_lstm", "arma", "lstm_ae", "lstm_ad", "lstm_vae", "vae", "random", "abs_z"]
    plotting.results_chart(chart_frame([f"series_{k}" for k in range(n_series)], detectors), tmp_path / "r.png",
                           "skab_valve1: every detector beside the controls")
    fig = captured[-1]
    renderer = laid_out(fig)
    for artist in (fig.axes[0].title, fig.axes[0].get_legend()):
        box = artist.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0 and box.y1 <= fig.bbox.y1
    assert fig.axes[0].get_title().split() == ("skab_valve1: every detector beside the controls over each series' "
                                               "test points; mean over 2 seeds, bars from the lowest to the "
                                               "highest; grey: the controls").split()
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == detectors


def test_the_results_chart_marks_an_undefined_mean_n_a_rather_than_leaving_a_bar_of_zero(captured, tmp_path):
    """A detector whose metric is undefined on a series (its test labels all of one class: NaN on every seed) drew
    no bar, which reads as a score of 0; its place says n/a now. A defined 0 stays a bar of 0."""
    frame = chart_frame(["a", "b"], ["vae_lstm", "random", "abs_z"])
    frame.loc[(frame.series == "b") & (frame.detector == "vae_lstm"), ["vus_pr", "auc_pr"]] = np.nan
    frame.loc[(frame.series == "a") & (frame.detector == "random"), "vus_pr"] = 0.0
    plotting.results_chart(frame, tmp_path / "r.png", "grid")
    vus, auc = captured[-1].axes
    width = 0.8 / 3
    for ax in (vus, auc):
        marks = [(round(t.get_position()[0], 6), t.get_text()) for t in ax.texts]
        assert marks == [(round(1 - width, 6), "n/a")]  # series b (x 1), the first of three detectors


def test_the_results_charts_title_counts_the_seeds_of_each_bar(captured, tmp_path):
    """A grid cut short (abs_z on one seed, the VAE-LSTM on three, one of them undefined) was titled "mean over 3
    seeds" for every bar."""
    frame = pd.concat([chart_frame(["a"], ["vae_lstm"], seeds=(0, 1, 2)), chart_frame(["a"], ["abs_z"], seeds=(0,))])
    frame.loc[frame.seed == 2, ["vus_pr", "auc_pr"]] = np.nan
    plotting.results_chart(frame, tmp_path / "r.png", "grid")
    assert "mean over 1 to 2 seeds, bars from" in captured[-1].axes[0].get_title().replace("\n", " ")
    plotting.results_chart(chart_frame(["a"], ["vae_lstm", "abs_z"], seeds=(0,)), tmp_path / "r.png", "grid")
    assert "points; one seed; grey" in captured[-1].axes[0].get_title().replace("\n", " ")


def test_vertical_bands_widen_the_x_range_as_axvspan_did():
    """Drawn as one collection, the bands no longer widened the x range: a flagged span that ends a step after the
    last row (its right edge) was cut at the panel's edge, where axvspan had kept its width."""
    fig, ax = plotting.plt.subplots()
    ax.plot(np.arange(10), np.arange(10))
    plotting.vertical_bands(ax, [8.0], [10.5])
    fig.canvas.draw()
    assert ax.get_xlim()[1] >= 10.5 and ax.get_ylim() == pytest.approx((-0.45, 9.45))  # y: the data's alone
    plotting.plt.close(fig)


def test_the_score_histograms_legend_hides_no_bar(captured, tmp_path):
    """The legend sat inside the axes where matplotlib found room, which on a long-tailed test distribution was on
    the bars: the synthetic series' histogram hid the top of its validation bars under it."""
    rng = np.random.default_rng(0)
    val = np.exp(rng.normal(4.3, 0.2, 400))
    test = np.concatenate([np.exp(rng.normal(4.3, 0.25, 1800)), np.exp(rng.uniform(4.8, 5.7, 100))])
    plotting.score_histograms(val, test, float(np.quantile(val, 0.95)), tmp_path / "h.png",
                              "synthetic: vae_lstm sequence scores", "val_quantile sequence threshold")
    fig = captured[0]
    ax = fig.axes[0]
    renderer = laid_out(fig)
    legend = ax.get_legend().get_window_extent(renderer)
    inside = ax.get_window_extent(renderer)  # a bar's extent runs far below a log axis: the part drawn
    bars = [plotting.matplotlib.transforms.Bbox.intersection(bar.get_window_extent(renderer), inside)
            for bar in ax.patches if bar.get_height() > 0]
    assert bars and not any(bar is not None and legend.overlaps(bar) for bar in bars)
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.x1 and legend.y0 >= 0 and legend.y1 <= fig.bbox.y1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "validation", "test", f"val_quantile sequence threshold {np.quantile(val, 0.95):.3g}"]


def test_the_score_panels_threshold_line_is_named_beside_it(captured, tmp_path):
    """The score panel's red dashed threshold line was named nowhere, while the legend above gave a red dashed line
    to the label timestamps. Its own legend, beside the panel, names the scores and the threshold (once for all
    the pieces)."""
    pieces = [{"start": s, "scores": np.linspace(1, 2, 50), "flags": np.zeros(50, bool), "threshold": 1.5}
              for s in (0, 150)]
    plotting.detections(np.zeros((200, 1)), pieces, np.array([160]), None, (50, 150), tmp_path / "d.png", "t",
                        score_label="EWMA-smoothed point score", threshold_label="dynamic threshold")
    fig = captured[0]
    ax_score = fig.axes[-1]
    legend = ax_score.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["EWMA-smoothed point score", "dynamic threshold"]
    renderer = laid_out(fig)
    box = legend.get_window_extent(renderer)
    assert box.x0 >= ax_score.get_window_extent(renderer).x1 and box.x1 <= fig.bbox.x1  # beside the scores


def test_the_score_panels_label_stays_beside_its_panel(captured, tmp_path):
    """With three channels the score panel is about 1.4 inches high, and its label "EWMA-smoothed point score" (the
    dynamic rule's) ran past its top, beside the panel above. It wraps now."""
    pieces = [{"start": 100, "scores": np.linspace(1, 2, 100), "flags": np.zeros(100, bool), "threshold": 1.5}]
    plotting.detections(np.zeros((200, 3)), pieces, np.array([], int), None, (0, 100), tmp_path / "d.png", "t",
                        score_label="EWMA-smoothed point score")
    fig = captured[0]
    ax_score = fig.axes[-1]
    renderer = laid_out(fig)
    label, panel = ax_score.yaxis.label.get_window_extent(renderer), ax_score.get_window_extent(renderer)
    assert panel.y0 <= label.y0 and label.y1 <= panel.y1
    assert ax_score.get_ylabel().split() == ["EWMA-smoothed", "point", "score"]


@pytest.mark.parametrize("threshold, named", [
    (np.nan, "oracle_best_f1 threshold: none on these scores, flags nothing"),
    (np.inf, "oracle_best_f1 threshold: inf, flags nothing"),
    (-np.inf, "oracle_best_f1 threshold: -inf, flags every point")])
def test_a_threshold_with_no_line_is_not_named_as_one(captured, tmp_path, threshold, named):
    """The oracle threshold of test labels with no anomaly is NaN (and a registered rule may return inf or -inf): no
    line is drawn, while the legend named a red dashed threshold line. It says what the threshold is instead."""
    pieces = [{"start": s, "scores": np.linspace(1, 2, 50), "flags": np.full(50, threshold == -np.inf),
               "threshold": threshold} for s in (0, 150)]
    plotting.detections(np.zeros((200, 1)), pieces, np.array([], int), None, (50, 150), tmp_path / "d.png", "t",
                        threshold_label="oracle_best_f1 threshold")
    legend = captured[0].axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["point score", named]
    assert not captured[0].axes[-1].collections  # no threshold line


def test_a_threshold_line_is_named_once_when_a_piece_has_none(captured, tmp_path):
    pieces = [{"start": s, "scores": np.linspace(1, 2, 50), "flags": np.zeros(50, bool), "threshold": t}
              for s, t in ((0, np.nan), (150, 1.5))]
    plotting.detections(np.zeros((200, 1)), pieces, np.array([], int), None, (50, 150), tmp_path / "d.png", "t")
    legend = captured[0].axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["point score", "threshold"]


@pytest.mark.parametrize("scores, threshold, where", [
    (np.linspace(1, 2, 50), 0.0, "0, below every score, flags every scored point"),  # a log axis has no 0
    (np.linspace(1, 2, 50), 1e308, "1e+308, above every score, flags nothing"),  # overflowed the log axis
    (np.linspace(0, 1, 50), -1e308, "-1e+308, below every score, flags every scored point")])  # squeezed the scores
def test_a_threshold_the_score_axis_cannot_show_is_named_not_drawn(captured, tmp_path, scores, threshold, where):
    """threshold_rule "fixed" with threshold_value 0 on positive scores (their axis is logarithmic) drew no line, while
    both legends named one; a threshold_value of 1e308 (the config refuses inf) overflowed the log axis, which then
    showed no score at all, and -1e308 squeezed the scores into a line. The legends now say where such a threshold
    lies, and the axes show the scores."""
    pieces = [{"start": 100, "scores": scores, "flags": scores >= threshold, "threshold": threshold}]
    plotting.detections(np.zeros((150, 1)), pieces, np.array([], int), None, (0, 100), tmp_path / "d.png", "t",
                        threshold_label="fixed threshold")
    plotting.score_histograms(scores, scores, threshold, tmp_path / "h.png", "t", "fixed sequence threshold")
    panel, histogram = captured[0].axes[-1], captured[1].axes[0]
    assert [t.get_text() for t in panel.get_legend().get_texts()] == ["point score", f"fixed threshold: {where}"]
    assert [t.get_text() for t in histogram.get_legend().get_texts()] == [
        "validation", "test", f"fixed sequence threshold {where.split(', flags')[0]}"]
    assert not panel.collections and not [line for line in histogram.lines if len(line.get_xdata())]  # no threshold line
    for ax, low, high in ((panel, *panel.get_ylim()), (histogram, *histogram.get_xlim())):
        assert 0.3 * scores.max() <= high <= 10 * scores.max() and low >= -1, ax  # the scores fill the axis


def test_a_figure_that_fills_the_disk_is_named_in_the_one_line(tmp_path, monkeypatch):
    """A full disk while detect.py drew detections.png said "error: No space left on device", naming no file or
    folder (a write's OSError carries none), after metrics.json had been set aside: the line names the figure."""
    import errno

    from vae_lstm.errors import os_error_line

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plotting.plt.Figure, "savefig", full)
    fig, _ = plotting.plt.subplots()
    with pytest.raises(OSError) as failed:
        plotting._save(fig, tmp_path / "detection" / "detections.png")
    assert os_error_line(failed.value) == f"{tmp_path / 'detection' / 'detections.png'}: No space left on device"
    assert list((tmp_path / "detection").iterdir()) == []  # no half a figure left


def panel_colour_share(fig, ax, x0, x1) -> float:
    """The share of ``ax``'s pixels from x ``x0`` to ``x1`` (data), over its height less the middle (where the
    data's line at 0 lies), that are drawn in any colour: shading, bars or bands."""
    laid_out(fig)
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = image.shape[0]
    (px0, _), (px1, _) = ax.transData.transform([(x0, 0), (x1, 0)])
    (_, py0), (_, py1) = ax.transAxes.transform([(0, 0), (1, 1)])
    rows = [r for r in range(height - int(py1) + 2, height - int(py0) - 1)
            if abs(r - (height - ax.transAxes.transform((0, 0.5))[1])) > 4]
    block = image[rows][:, int(px0) + 2:int(px1) - 1]
    return float((block != 255).any(axis=-1).mean())


def test_a_long_series_flagged_at_one_percent_looks_one_percent_flagged(captured, tmp_path):
    """700,000 test points of which 1% were flagged, in 6,694 short runs: each run was drawn at least a pixel
    wide (and with an edge), and the whole test span looked flagged. Runs narrower than a pixel column are drawn
    as the share of flagged points in each column (a bar from the panel's foot that high); so are labelled
    windows that narrow, in their shading and in their bar along the top."""
    n, rng = 200_000, np.random.default_rng(0)
    flags = np.zeros(n - 50_000, bool)
    flags[rng.choice(len(flags), len(flags) // 100, replace=False)] = True
    labels = np.zeros(n, bool)
    labels[50_000 + rng.choice(n - 50_000, 1500, replace=False)] = True
    pieces = [{"start": 50_000, "scores": np.ones(n - 50_000), "flags": flags, "threshold": 0.5}]
    plotting.detections(np.zeros((n, 1)), pieces, np.array([], int), labels, (0, 50_000), tmp_path / "d.png", "t")
    fig = captured[0]
    share = panel_colour_share(fig, fig.axes[0], 50_000, n)
    assert 0.005 < share < 0.04, share  # the flagged 1% and the labelled 1% in their bars; before: all of it
    # the bars' heights are the shares of the rows in their columns that are flagged (or labelled)
    for colour, marked in (("tab:orange", np.r_[np.zeros(50_000, bool), flags]), ("tab:red", labels)):
        rgb = plotting.matplotlib.colors.to_rgb(colour)
        bars = [c for c in fig.axes[0].collections if tuple(c.get_facecolor()[0][:3]) == rgb][0]
        for path in bars.get_paths()[::97]:
            a, b = path.vertices[:, 0].min(), path.vertices[:, 0].max()
            inside = (np.arange(n) >= a - 1e-9) & (np.arange(n) < b - 1e-9)
            assert path.vertices[:, 1].max() == pytest.approx(marked[inside].mean(), abs=1e-9)


def test_adjacent_test_pieces_are_parted_by_a_line(captured, tmp_path):
    """Several test files drew as one test span, with nothing to show where one file ended and the next began: a
    thin dotted line marks each join, in every panel, named once in the legend."""
    pieces = [{"start": s, "scores": np.linspace(1, 2, 50), "flags": np.zeros(50, bool), "threshold": 1.5}
              for s in (100, 150, 200)]
    series = np.zeros((250, 2))
    series[:, 0] = 9.0  # each channel's panel takes its own range, whatever the joins' count
    plotting.detections(series, pieces, np.array([], int), None, (0, 100), tmp_path / "d.png", "t")
    fig = captured[0]
    for ax in fig.axes:
        assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [150, 200]
    assert fig.axes[0].get_ylim()[1] >= 9.5 and fig.axes[1].get_ylim()[1] < 9
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()].count("test piece boundary") == 1


@pytest.mark.parametrize("rule", ["fixed", "dynamic"])
def test_the_score_panel_draws_no_score_where_the_detector_gave_none(captured, tmp_path, rule):
    """LSTM-AD leaves the first l_win + horizon - 1 points of each test piece unscored; they take the median
    validation score for the metrics but are never flagged. The score panel drew that fill as a flat run of scores,
    above a fixed threshold of 0.5 and yet not flagged; it now leaves them out (a break in the line)."""
    from types import SimpleNamespace

    from vae_lstm import detection
    from vae_lstm.config import from_dict

    n = 300
    unscored = np.arange(n) < 40
    rng = np.random.default_rng(0)
    points = np.where(unscored, 9.5, rng.uniform(0.1, 0.4, n))  # the fill, above the threshold; then scored ones
    points[200:210] = 5.0
    piece = detection.PieceResult("test", 100, None, np.zeros(1), np.zeros(1, bool), points, None, unscored)
    main = detection.DetectorResult("lstm_ad", np.linspace(0.1, 0.4, 50), [piece],
                                    val_point_scores=np.linspace(0.1, 0.4, 50))
    config = from_dict({"detector": "lstm_ad", "threshold_rule": rule, "threshold_value": 0.5})
    series = SimpleNamespace(normalised=np.zeros((400, 1)), anomaly_idx=np.array([], int), point_labels=None,
                             train_start=0, train_end=100, channels=["value"], timestamps=None, utc=False,
                             labelled=False, test_pieces=[SimpleNamespace(start=100, values=np.zeros((n, 1)))])
    result = SimpleNamespace(config=config, metrics={"lstm_ad": {"threshold": 0.5}}, main=main, series=series,
                             results={"lstm_ad": main})
    detection.draw_figures(result, tmp_path)
    ax_score = captured[-1].axes[-1]
    x, y = ax_score.lines[0].get_data()
    x, y = np.asarray(x, float), np.asarray(y, float)
    assert np.isnan(y[x < 140]).all() and np.isfinite(y[x >= 140]).all()  # the 40 unscored points: no score drawn
    assert y[x >= 140] == pytest.approx(detection.compared_scores(rule, piece)[40:])  # the scores the rule compares
    assert not detection.detection_flags(result, main)[0][0][:40].any()
    with warnings.catch_warnings():  # a piece with no scored point at all: no "All-NaN slice" warning
        warnings.simplefilter("error")
        plotting.detections(np.zeros((20, 1)), [{"start": 10, "scores": np.full(10, np.nan), "flags": np.zeros(10, bool),
                                                 "threshold": 0.5}], np.array([], int), None, (0, 10), tmp_path / "d.png", "t")
    assert captured[-1].axes[-1].get_yscale() == "linear"  # no score to take a log of: the threshold's line as is


def test_the_detections_title_of_many_channels_stays_inside_the_figure(captured, tmp_path):
    """Of 20 channels with long names, the title and its note on the channels left out ran to about 290 characters
    on one line: cut off at both edges of the figure, dataset, detector and rule with it. It wraps now."""
    series = np.random.default_rng(0).uniform(-1, 1, (400, 20))
    flags = np.zeros(200, bool)
    flags[50:55] = True
    names = [f"Volume Flow Rate sensor {k}" for k in range(20)]
    title = ("SKAB_valve1: vae_lstm detections, val_quantile threshold on EWMA-smoothed point scores "
             "(l_win 24, l_seq 4, seed 0)")
    plotting.detections(series, [{"start": 200, "scores": np.ones(200), "flags": flags, "threshold": 2.0}],
                        np.array([], int), None, (0, 200), tmp_path / "d.png", title, channels=names)
    fig = captured[-1]
    fig.tight_layout()
    box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert fig.axes[0].get_title().replace("\n", " ").startswith(title + " [8 of 20 channels shown: ")


def test_the_vus_pr_bars_title_of_a_long_dataset_name_stays_inside_the_figure(captured, tmp_path):
    """vus_pr.png is 4 inches wide for the detector and its two controls: a dataset named after its file,
    "plant_line3_sensors_2024_export_cleaned", ran its title off both edges."""
    plotting.metric_bars({"vae_lstm": 0.5, "random": 0.1, "abs_z": 0.3}, tmp_path / "v.png", "VUS-PR",
                         "plant_line3_sensors_2024_export_cleaned: point level")
    fig = captured[-1]
    fig.tight_layout()
    box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert fig.axes[0].get_title().replace("\n", " ") == ("plant_line3_sensors_2024_export_cleaned: point level "
                                                          "(grey: controls)")


@pytest.mark.parametrize("n_series", [4, 5])
def test_the_results_charts_series_names_overlap_neither_each_other_nor_the_legend(captured, tmp_path, n_series):
    """Four series named as NAB's files ("machine_temperature_system_failure") wrote their names level, each over
    its neighbours'; of five, turned 20 degrees, the legend below the lower panel lay across them."""
    names = ["machine_temperature_system_failure", "ambient_temperature_system_failure",
             "cpu_utilization_asg_misconfiguration", "ec2_request_latency_system_failure", "nyc_taxi_half_hourly"]
    plotting.results_chart(chart_frame(names[:n_series], ["vae_lstm", "random", "abs_z"]), tmp_path / "r.png", "grid")
    fig = captured[-1]
    renderer = laid_out(fig)
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend()).get_window_extent(renderer)
    for ax in fig.axes:
        labels = [label for label in ax.get_xticklabels() if label.get_text()]
        assert [label.get_text() for label in labels] == names[:n_series]
        assert all(label.get_rotation() > 0 for label in labels)  # level, each ran into the next
        for label in labels:
            assert not label.get_window_extent(renderer).overlaps(legend)
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.x1 and legend.y0 >= 0 and legend.y1 <= fig.bbox.y1


def test_the_score_panels_log_axis_labels_do_not_run_into_each_other(captured, tmp_path):
    """Scores from 2 to 75 on the short log score panel labelled every minor tick, 2, 3, 4 and 6 times each power of
    ten: "3×10¹" ran into "4×10¹". A few labels now, apart, and still more than one."""
    rng = np.random.default_rng(0)
    scores = np.exp(rng.uniform(np.log(2), np.log(10), 1000))
    scores[200:230] = 75.0
    plotting.detections(rng.normal(size=(2000, 3)), [{"start": 1000, "scores": scores, "flags": scores > 9,
                                                      "threshold": 9.1}], np.array([], int), None, (0, 1000),
                        tmp_path / "d.png", "t")
    fig = captured[-1]
    renderer = laid_out(fig)
    ax = fig.axes[-1]
    low, high = ax.get_ylim()
    shown = sorted((label.get_window_extent(renderer) for label in
                    ax.yaxis.get_ticklabels(minor=True) + ax.yaxis.get_ticklabels()
                    if label.get_text() and low <= label.get_position()[1] <= high), key=lambda box: box.y0)
    assert len(shown) >= 2
    assert not any(below.overlaps(above) for below, above in zip(shown, shown[1:], strict=False))


@pytest.mark.parametrize("rc", [None, "figure.autolayout", "figure.constrained_layout.use"])
def test_a_figure_is_drawn_once_into_its_file_with_the_layout_of_tight_layout(tmp_path, monkeypatch, rc):
    """``fig.tight_layout()`` left a place-holder layout engine on the figure, and ``savefig`` then drew the whole
    figure once more, without rendering it, before drawing it into the file: two draws per figure, the first a
    third of its saving time. One now, and the same PNG, to the byte, as tight_layout and savefig wrote. A
    matplotlibrc that gives every figure a layout engine (``rc``: tight or constrained layout) keeps that PNG too:
    the engine, left on the figure, laid it out again as savefig drew it (constrained layout, undoing tight_layout's,
    with a warning that it ignored it)."""
    from matplotlib.figure import Figure

    def figure():
        fig, ax = plotting.plt.subplots(figsize=(4, 3))
        ax.plot(np.arange(10.0) ** 2, label="data")
        ax.set_yscale("log")
        ax.set_title("a title")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
        return fig

    if rc:
        monkeypatch.setitem(plotting.plt.rcParams, rc, True)
    old = figure()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        old.tight_layout()
    old.savefig(tmp_path / "old.png", dpi=plotting.DPI)
    plotting.plt.close(old)
    draws, draw = [], Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or draw(self, renderer))
    with warnings.catch_warnings(record=True):  # constrained layout's: the layout has changed to tight
        warnings.simplefilter("always")
        plotting._save(figure(), tmp_path / "new.png")
    assert len(draws) == 1 or rc
    assert (tmp_path / "new.png").read_bytes() == (tmp_path / "old.png").read_bytes()


@pytest.mark.parametrize("n_series", [2, 3, 4, 6])
def test_the_results_charts_turned_series_names_stay_inside_the_figure_beside_panels_of_their_height(
        captured, tmp_path, n_series):
    """Series named after their files, as "plant_line3_sensors_2024_export_cleaned", are turned: the first name,
    ending at its tick, ran off the figure's left edge ("ensors_2024_export_cleaned"), and the names below each
    panel squeezed the panels to 1.3 inches of their 2.9."""
    names = [f"{k}_plant_line3_sensors_2024_export_clean" for k in range(n_series)]
    names[0] = "x" * 60 if n_series == 3 else names[0]  # one longer still, first: the panels moved right, the title too
    plotting.results_chart(chart_frame(names, ["vae_lstm", "random", "abs_z"]), tmp_path / "r.png", "grid")
    fig = captured[-1]
    renderer = laid_out(fig)
    for ax in fig.axes:
        assert all(label.get_rotation() > 0 for label in ax.get_xticklabels())
        for label in ax.get_xticklabels():
            box = label.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0, label.get_text()
        assert ax.get_window_extent(renderer).height / fig.dpi >= 2.0
    title = fig.axes[0].title.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.x1 and title.y1 <= fig.bbox.y1
