"""The VAE and LSTM: shapes for the paper's window sizes, the ELBO terms, saving, and a short fit."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from vae_lstm import models
from vae_lstm.data_loader import load_series
from vae_lstm.models import (
    UNROLL_MAX_STEPS,
    VAE,
    SpanConv1D,
    build_decoder,
    build_lstm,
    default_decoder_channels,
    elbo_terms,
    n_halvings,
    recurrent,
)
from vae_lstm.windowing import rolling_windows

L_WINS = [16, 24, 48, 100, 144]


def numpy(t):
    return ops.convert_to_numpy(t)


def compiled_vae(train_sigma: bool, seed: int = 0) -> VAE:
    keras.utils.set_random_seed(seed)
    vae = VAE(l_win=24, n_channel=1, code_size=3, num_hidden_units=32, train_sigma=train_sigma, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """Rolling windows (l_win 24) of the synthetic training block, every 2nd one: ~990 windows."""
    train = load_series("synthetic").train
    return np.asarray(rolling_windows(train, 24), dtype="float32")[::2]


@pytest.fixture(scope="module")
def fitted_fixed_sigma(windows):
    vae = compiled_vae(train_sigma=False)
    sigma_before = float(numpy(vae.sigma))
    history = vae.fit(windows, batch_size=64, epochs=3, shuffle=True, verbose=0)
    return vae, history, sigma_before


@pytest.fixture(scope="module")
def fitted_trained_sigma(windows):
    vae = compiled_vae(train_sigma=True)
    sigma2_before = float(numpy(vae.sigma2()))
    history = vae.fit(windows, batch_size=64, epochs=2, shuffle=True, verbose=0)
    return vae, history, sigma2_before


# ---- shapes ----


@pytest.mark.parametrize("l_win, expected", [(8, 0), (9, 1), (16, 1), (24, 2), (48, 3), (100, 4), (144, 5)])
def test_n_halvings(l_win, expected):
    assert n_halvings(l_win) == expected
    assert math.ceil(l_win / 2**expected) <= 8


@pytest.mark.parametrize("n_channel", [1, 3])
@pytest.mark.parametrize("l_win", L_WINS)
def test_vae_shapes(l_win, n_channel):
    keras.utils.set_random_seed(0)
    batch, code_size, floor = 5, 4, 0.05
    vae = VAE(l_win, n_channel, code_size=code_size, num_hidden_units=32, code_std_floor=floor)
    x = np.random.default_rng(0).standard_normal((batch, l_win, n_channel)).astype("float32")
    mean, std = vae.encoder(x)
    assert tuple(mean.shape) == (batch, code_size)
    assert tuple(std.shape) == (batch, code_size)
    assert numpy(std).min() >= floor - 1e-7
    assert tuple(vae.decoder(mean).shape) == (batch, l_win, n_channel)
    assert tuple(vae(x).shape) == (batch, l_win, n_channel)
    assert tuple(vae(x, training=True).shape) == (batch, l_win, n_channel)


def test_code_std_floor_is_reached_when_the_relu_is_off():
    """With the raw std layer's weights and bias at zero, std is exactly the floor."""
    vae = VAE(24, 1, code_size=3, num_hidden_units=16, code_std_floor=0.25)
    layer = vae.encoder.get_layer("code_std_raw")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    _, std = vae.encoder(np.ones((2, 24, 1), dtype="float32"))
    np.testing.assert_allclose(numpy(std), 0.25, rtol=1e-6)


@pytest.mark.parametrize("l_seq, code_size, units", [(4, 2, 16), (7, 6, 32)])
def test_lstm_shapes(l_seq, code_size, units):
    lstm = build_lstm(l_seq, code_size, units)
    codes = np.zeros((3, l_seq - 1, code_size), dtype="float32")
    assert tuple(lstm(codes).shape) == (3, l_seq - 1, code_size)
    assert tuple(lstm.input_shape) == (None, l_seq - 1, code_size)


@pytest.mark.parametrize("length, channels, filters", [(6, 128, 16), (3, 5, 7)])
def test_span_conv_is_the_convolution_it_replaces(length, channels, filters):
    """One matrix product over the flattened input equals Conv1D's 'valid' convolution with the same
    kernel: a wrong reshape order (channel-major) or a dropped bias would break it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, length, channels)).astype("float32")
    span = SpanConv1D(filters, length, padding="valid")
    conv = keras.layers.Conv1D(filters, length, padding="valid")
    span.build(x.shape)
    conv.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()]
    span.set_weights(weights)
    conv.set_weights(weights)
    np.testing.assert_allclose(numpy(span(x)), numpy(conv(x)), rtol=1e-4, atol=1e-4)
    assert tuple(span(x).shape) == (4, 1, filters)


@pytest.mark.parametrize("l_win, n_channel, folds, unfolded", [(24, 1, 2, 0), (48, 2, 3, 0), (20, 3, 2, 0), (9, 2, 0, 1)])
def test_folded_upsampling_is_the_decoder_it_replaces(l_win, n_channel, folds, unfolded):
    """Each upsampling followed by a kernel-3 convolution becomes one convolution of twice the channels and
    a reshape, with the same outputs: swapped phases, taps summed on the wrong side or a dropped edge
    would break it. An upsampling followed by a crop (l_win 9) is left as it is."""
    rng = np.random.default_rng(1)
    decoder = build_decoder(l_win, n_channel, 3, 64)
    decoder.set_weights([rng.normal(size=w.shape).astype("float32") for w in decoder.get_weights()])
    folded = models.fold_upsampling(decoder)
    codes = rng.normal(size=(16, 3)).astype("float32")
    want = numpy(decoder(codes))
    np.testing.assert_allclose(numpy(folded(codes)), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert sum(isinstance(layer, keras.layers.UpSampling1D) for layer in folded.layers) == unfolded
    assert sum(layer.name.endswith("_folded") for layer in folded.layers) == folds


def test_fold_upsampling_leaves_a_model_that_is_not_a_chain_alone():
    """A skip connection around an upsampling would be lost by a layer-by-layer rebuild: such a model is
    returned as it is."""
    x = inputs = keras.Input((4, 2))
    up = keras.layers.UpSampling1D(2)(x)
    conv = keras.layers.Conv1D(2, 3, padding="same")(up)
    model = keras.Model(inputs, keras.layers.Add()([conv, up]))
    assert models.fold_upsampling(model) is model


def test_fold_upsampling_folds_a_sequential_decoder():
    """A Sequential model lists no InputLayer among its layers: its first layer must still be rebuilt, and an
    upsampling followed by a kernel-3 convolution folded, with the same outputs."""
    rng = np.random.default_rng(4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8), keras.layers.Reshape((4, 2)),
                              keras.layers.UpSampling1D(2), keras.layers.Conv1D(3, 3, padding="same")])
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    folded = models.fold_upsampling(model)
    codes = rng.normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(numpy(folded(codes)), numpy(model(codes)), rtol=1e-4, atol=1e-5)
    assert [type(layer) for layer in folded.layers[1:]] == [keras.layers.Dense, keras.layers.Reshape,
                                                           keras.layers.Conv1D, keras.layers.Reshape]


@pytest.mark.parametrize("units, channels", [(64, 16), (128, 32), (256, 64), (512, 64), (1024, 64)])
def test_default_decoder_channels(units, channels):
    """A quarter of the width, capped at 64: the configs below 512 units keep the decoder they trained with."""
    assert default_decoder_channels(units) == channels
    decoder = VAE(l_win=24, n_channel=1, code_size=3, num_hidden_units=units).decoder
    assert decoder.get_layer("conv_1").filters == channels


@pytest.mark.parametrize("earlier", ["decoder_128_channels", "plain_conv_span"])
def test_a_checkpoint_of_earlier_layers_stops_with_one_line(tmp_path, monkeypatch, earlier):
    """A VAE saved by an earlier version (the 512-unit decoder with 128 channels; the spanning layer as
    Keras' Conv1D, whose weights are stored under another path) is refused by name, not with Keras'
    loading traceback."""
    from vae_lstm.config import load_config
    from vae_lstm.detectors.vae_lstm import VAEModel
    from vae_lstm.errors import UserError

    if earlier == "decoder_128_channels":
        monkeypatch.setattr(models, "MAX_DECODER_CHANNELS", 128)
    else:
        monkeypatch.setattr(models, "SpanConv1D", keras.layers.Conv1D)
    VAE(l_win=24, n_channel=1, code_size=3, num_hidden_units=512).save(tmp_path / "vae.keras")
    monkeypatch.undo()
    config = load_config("synthetic_config.json").replace(num_hidden_units=512, code_size=3)
    with pytest.raises(UserError, match="cannot load.*move the run folder away"):
        VAEModel(config, tmp_path).load()


@pytest.mark.parametrize("steps", [5, UNROLL_MAX_STEPS + 1])
def test_unrolled_lstm_equals_the_looped_one(steps):
    """``recurrent`` unrolls short sequences only; unrolled or looped, the same weights give the same
    outputs, so the choice is one of speed."""
    x = np.random.default_rng(1).normal(size=(3, steps, 4)).astype("float32")
    layer = recurrent(8, steps, return_sequences=True)
    looped = keras.layers.LSTM(8, return_sequences=True, unroll=False)
    layer.build(x.shape)
    looped.build(x.shape)
    looped.set_weights(layer.get_weights())
    assert layer.unroll == (steps <= UNROLL_MAX_STEPS)
    np.testing.assert_allclose(numpy(layer(x)), numpy(looped(x)), rtol=1e-5, atol=1e-6)


# ---- the ELBO terms ----


def test_elbo_perfect_reconstruction_and_prior_code():
    x = np.random.default_rng(1).standard_normal((4, 6, 2)).astype("float32")
    mean, std = np.zeros((4, 3), "float32"), np.ones((4, 3), "float32")
    sigma2 = 0.02
    squared_error, kl, neg_elbo = (numpy(t) for t in elbo_terms(x, x, mean, std, sigma2))
    np.testing.assert_allclose(squared_error, 0.0, atol=1e-7)
    np.testing.assert_allclose(kl, 0.0, atol=1e-7)
    d = 6 * 2
    np.testing.assert_allclose(neg_elbo, d / 2 * np.log(2 * np.pi * sigma2), rtol=1e-5)
    assert squared_error.shape == kl.shape == neg_elbo.shape == (4,)


def test_elbo_hand_values():
    x = np.ones((2, 4, 1), "float32")
    x_hat = np.zeros((2, 4, 1), "float32")
    x_hat[1, 0, 0] = 3.0  # second window: errors 4 + 1 + 1 + 1
    mean = np.array([[1.0, 0.0], [0.0, 0.0]], "float32")
    std = np.array([[1.0, 1.0], [2.0, 1.0]], "float32")
    sigma2 = 0.5
    squared_error, kl, neg_elbo = (numpy(t) for t in elbo_terms(x, x_hat, mean, std, sigma2))
    np.testing.assert_allclose(squared_error, [4.0, 7.0], rtol=1e-6)
    # KL per dim: 0.5 * (m^2 + s^2 - 2 log s - 1)
    np.testing.assert_allclose(kl, [0.5, 0.5 * (4.0 - 2 * np.log(2.0) - 1.0)], rtol=1e-6)
    const = 4 / 2 * np.log(2 * np.pi * sigma2)
    np.testing.assert_allclose(neg_elbo, squared_error / (2 * sigma2) + const + kl, rtol=1e-6)


def test_sigma2_is_sigma_squared_plus_offset():
    vae = VAE(16, 1, code_size=2, num_hidden_units=16, sigma=0.3, sigma2_offset=0.05)
    np.testing.assert_allclose(float(numpy(vae.sigma2())), 0.3**2 + 0.05, rtol=1e-6)


# ---- saving ----


@pytest.mark.parametrize("train_sigma", [False, True])
def test_vae_keras_round_trip(tmp_path, train_sigma):
    keras.utils.set_random_seed(0)
    vae = VAE(48, 2, code_size=4, num_hidden_units=32, sigma=0.2, train_sigma=train_sigma,
              code_std_floor=0.02, seed=5)
    x = np.random.default_rng(0).standard_normal((6, 48, 2)).astype("float32")
    vae(x)
    vae.sigma.assign(0.37)
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VAE)
    assert loaded.get_config() == vae.get_config()
    assert float(numpy(loaded.sigma)) == pytest.approx(0.37)
    assert loaded.sigma.trainable == train_sigma
    for a, b in zip(vae.encoder(x), loaded.encoder(x), strict=True):
        np.testing.assert_array_equal(numpy(a), numpy(b))
    z = np.random.default_rng(1).standard_normal((6, 4)).astype("float32")
    np.testing.assert_array_equal(numpy(vae.decoder(z)), numpy(loaded.decoder(z)))
    np.testing.assert_array_equal(numpy(vae(x)), numpy(loaded(x)))


def test_lstm_keras_round_trip(tmp_path):
    lstm = build_lstm(5, 3, 16)
    codes = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    lstm.save(tmp_path / "lstm.keras")
    loaded = keras.saving.load_model(tmp_path / "lstm.keras")
    np.testing.assert_array_equal(numpy(lstm(codes)), numpy(loaded(codes)))


# ---- fitting ----


def test_elbo_loss_falls(fitted_fixed_sigma):
    _, history, _ = fitted_fixed_sigma
    losses = history.history["loss"]
    assert len(losses) == 3
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    assert history.history["squared_error"][-1] < history.history["squared_error"][0]
    assert set(history.history) >= {"loss", "squared_error", "kl", "sigma2"}


def test_fixed_sigma_stays_fixed(fitted_fixed_sigma):
    vae, history, sigma_before = fitted_fixed_sigma
    assert not vae.sigma.trainable
    assert all(w is not vae.sigma for w in vae.trainable_weights)
    assert float(numpy(vae.sigma)) == sigma_before
    np.testing.assert_allclose(history.history["sigma2"], 0.1**2 + 0.01, rtol=1e-6)


def test_trainable_sigma_moves(fitted_trained_sigma):
    vae, history, sigma2_before = fitted_trained_sigma
    assert vae.sigma.trainable
    assert any(w is vae.sigma for w in vae.trainable_weights)
    sigma2_after = float(numpy(vae.sigma2()))
    assert sigma2_after != pytest.approx(sigma2_before, rel=1e-4)
    assert np.isfinite(history.history["loss"]).all()


def test_reconstruction_uses_the_code_mean_at_inference(fitted_fixed_sigma, windows):
    vae, _, _ = fitted_fixed_sigma
    x = windows[:8]
    mean, _ = vae.encoder(x)
    np.testing.assert_allclose(numpy(vae(x)), numpy(vae.decoder(mean)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(numpy(vae(x)), numpy(vae(x)))


# ---- the training loss, its gradient and the trackers, by hand ----


def fixed_noise(monkeypatch):
    """The sampling noise eps of every reparameterised code: all ones, so that a code is mean + std (VAE)."""
    monkeypatch.setattr(keras.random, "normal", lambda shape, **kwargs: ops.ones(shape))


def small_vae(std_bias: float) -> VAE:
    """A VAE of 8-point, 2-channel windows whose code std is ``std_bias`` + the floor, for every window."""
    keras.utils.set_random_seed(3)
    vae = VAE(l_win=8, n_channel=2, code_size=2, num_hidden_units=16, sigma=0.1, sigma2_offset=0.01)
    layer = vae.encoder.get_layer("code_std_raw")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, std_bias)])
    return vae


def test_the_vae_loss_and_its_trackers_are_the_negative_elbo_of_the_sampled_code(monkeypatch):
    """``test_step`` (each batch of ``evaluate``) reports the batch mean of the negative ELBO of codes sampled as mean + std * eps
    and its terms, computed here in NumPy: the KL's sign or scale, std used as a log-variance or a variance in the
    sample, decoding the code mean, the loss summed over the batch, or a tracker fed another term would break it."""
    fixed_noise(monkeypatch)
    vae = small_vae(std_bias=2.0)
    x = np.random.default_rng(2).standard_normal((5, 8, 2)).astype("float32")
    mean, std = (numpy(t) for t in vae.encoder(x))
    np.testing.assert_allclose(std, 2.01, rtol=1e-6)
    x_hat = numpy(vae.decoder(mean + std))
    squared_error = np.square(x - x_hat).sum(axis=(1, 2))
    kl = 0.5 * (np.square(mean) + np.square(std) - 2 * np.log(std) - 1).sum(axis=1)
    sigma2 = 0.1**2 + 0.01
    loss = squared_error / (2 * sigma2) + 16 / 2 * np.log(2 * np.pi * sigma2) + kl
    vae.compile(optimizer=keras.optimizers.SGD(0.0))
    got = vae.test_step(x)  # what evaluate runs on each batch
    want = {"loss": loss.mean(), "squared_error": squared_error.mean(), "kl": kl.mean(), "sigma2": sigma2}
    for name, value in want.items():
        np.testing.assert_allclose(numpy(got[name]), value, rtol=1e-4, err_msg=name)


def test_a_vae_training_step_follows_the_gradient_of_the_mean_negative_elbo(monkeypatch):
    """One SGD step of ``train_step``, with the decoder cut off from the code (its first kernel 0): the output
    bias of channel c moves by lr * sum(x - x_hat)[c] / (batch * sigma2), the code mean's bias by -lr * mean and
    the code std's by -lr * (std - 1 / std), the KL's gradient. A gradient of another loss (the squared error
    and KL unweighted, a sum over the batch) would move them otherwise."""
    fixed_noise(monkeypatch)
    vae = small_vae(std_bias=0.5)
    hidden = vae.decoder.get_layer("dense_hidden")
    hidden.set_weights([np.zeros_like(hidden.get_weights()[0]), hidden.get_weights()[1]])
    mean_layer = vae.encoder.get_layer("code_mean")
    mean_layer.set_weights([np.zeros_like(mean_layer.get_weights()[0]), np.array([0.3, -0.7], "float32")])
    x = np.random.default_rng(4).standard_normal((4, 8, 2)).astype("float32")
    x_hat = numpy(vae(x))  # the decoder ignores the code: the sampled code gives the same windows
    lr, sigma2, std = 0.01, 0.1**2 + 0.01, 0.5 + 0.01
    before = {name: vae.get_layer(part).get_layer(name).get_weights()[1].copy() for part, name in
              [("decoder", "window_out"), ("encoder", "code_mean"), ("encoder", "code_std_raw")]}
    vae.compile(optimizer=keras.optimizers.SGD(lr))
    vae.train_step(x)  # what fit runs on each batch
    after = {name: vae.get_layer(part).get_layer(name).get_weights()[1] for part, name in
             [("decoder", "window_out"), ("encoder", "code_mean"), ("encoder", "code_std_raw")]}
    np.testing.assert_allclose(after["window_out"] - before["window_out"],
                               lr * (x - x_hat).sum(axis=(0, 1)) / (len(x) * sigma2), rtol=1e-3)
    np.testing.assert_allclose(after["code_mean"] - before["code_mean"], -lr * np.array([0.3, -0.7]), rtol=1e-3)
    np.testing.assert_allclose(after["code_std_raw"] - before["code_std_raw"], -lr * (std - 1 / std), rtol=1e-3)


# ---- the layers, by hand ----


def layer_rows(model: keras.Model) -> list:
    """(class, output shape without the batch, weights) of each layer after the input."""
    return [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def test_the_vae_layers_are_those_the_module_describes():
    """Encoder: stride-2 convolutions of num_hidden_units / 2^(steps + 1 - k) filters (at least 8) down to at most
    8 points, the spanning convolution, a dense layer of 4 code_size, then the code mean and std, each convolution
    and dense layer followed by a LeakyReLU. Decoder: dense layers to a seed of ``channels``, a convolution then an
    upsampling per step with channels halved, a crop of the extra points split between both ends, a smoothing
    convolution and the output one. Counts of weights by hand (l_win 18, 2 channels, codes of 3, 64 units, 32
    decoder channels): a filter count, an activation, a layer order or a crop changed would break it."""
    vae = VAE(l_win=18, n_channel=2, code_size=3, num_hidden_units=64, decoder_channels=32)
    leaky = "LeakyReLU"
    assert layer_rows(vae.encoder) == [
        ("Conv1D", (9, 8), 3 * 2 * 8 + 8), (leaky, (9, 8), 0),
        ("Conv1D", (5, 16), 3 * 8 * 16 + 16), (leaky, (5, 16), 0),
        ("SpanConv1D", (1, 64), 5 * 16 * 64 + 64), (leaky, (1, 64), 0), ("Flatten", (64,), 0),
        ("Dense", (12,), 64 * 12 + 12), (leaky, (12,), 0),
        ("Dense", (3,), 12 * 3 + 3), ("Dense", (3,), 12 * 3 + 3), ("Lambda", (3,), 0)]
    assert layer_rows(vae.decoder) == [
        ("Dense", (64,), 3 * 64 + 64), (leaky, (64,), 0),
        ("Dense", (5 * 32,), 64 * 5 * 32 + 5 * 32), (leaky, (5 * 32,), 0), ("Reshape", (5, 32), 0),
        ("Conv1D", (5, 32), 3 * 32 * 32 + 32), (leaky, (5, 32), 0), ("UpSampling1D", (10, 32), 0),
        ("Conv1D", (10, 16), 3 * 32 * 16 + 16), (leaky, (10, 16), 0), ("UpSampling1D", (20, 16), 0),
        ("Cropping1D", (18, 16), 0),
        ("Conv1D", (18, 16), 3 * 16 * 16 + 16), (leaky, (18, 16), 0),
        ("Conv1D", (18, 2), 5 * 16 * 2 + 2)]
    crop = next(layer for layer in vae.decoder.layers if isinstance(layer, keras.layers.Cropping1D))
    assert crop.cropping == (1, 1)


def test_the_lstm_stacks_two_layers_and_predicts_unbounded_codes():
    """Two LSTM layers of num_hidden_units_lstm, then an LSTM of code_size units with no activation, so that the
    predicted codes are not squashed into (-1, 1): with its kernels 0 and gate biases (input 10, forget 0, cell 3,
    output 10), step t gives h_t = o c_t, c_t = c_(t-1) / 2 + 3 i (i = o = sigmoid(10)), past 1 from the first
    step on; tanh would keep it below 1."""
    lstm = build_lstm(4, 3, 8)
    assert layer_rows(lstm) == [("LSTM", (3, 8), 4 * (8 * (3 + 8) + 8)), ("LSTM", (3, 8), 4 * (8 * (8 + 8) + 8)),
                                ("LSTM", (3, 3), 4 * (3 * (8 + 3) + 3))]
    out = lstm.get_layer("lstm_out")
    kernel, recurrent_kernel, _ = out.get_weights()
    bias = np.repeat(np.array([10.0, 0.0, 3.0, 10.0], "float32"), 3)  # Keras' gate order: i, f, c, o
    out.set_weights([np.zeros_like(kernel), np.zeros_like(recurrent_kernel), bias])
    gate, c, want = 1 / (1 + np.exp(-10.0)), 0.0, []
    for _ in range(3):
        c = 0.5 * c + gate * 3.0
        want.append(gate * c)
    codes = np.random.default_rng(0).normal(size=(2, 3, 3)).astype("float32")
    np.testing.assert_allclose(numpy(lstm(codes)), np.broadcast_to(np.array(want)[None, :, None], (2, 3, 3)),
                               rtol=1e-5)
