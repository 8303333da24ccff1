"""The VAE that embeds one window into a code, and the LSTM that predicts the next codes.

The convolution stack is computed from ``l_win``: strided convolutions halve the window until
at most 8 steps are left, then one 'valid' convolution spans the rest. The decoder mirrors it
with upsampling and crops to ``l_win``, so any ``l_win >= 8`` and any channel count work.

Two ways of computing the same layers that train faster on CPU, with the same weights: the spanning
convolution is one matrix product (``SpanConv1D``; Keras stores its weights under another path than
Conv1D's, so VAE checkpoints of earlier versions do not load), and recurrent layers over at most
``UNROLL_MAX_STEPS`` steps are unrolled (``recurrent``) rather than looped (checkpoints load either way).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "vae_lstm"
# The decoder's default channels stop at 64: at 512 units (the paper configs) 128 channels made the VAE
# 1.62M multiply-adds per window at l_win 24, above the official architecture's 1.04M, and did not detect
# better on the development set (README, "Detection quality"); 64 makes it 0.94M.
MAX_DECODER_CHANNELS = 64
# Unrolled LSTMs trained 17-58% faster per step up to 48 steps (2-core CPU); at 140 steps no faster
# and slower to trace, so longer sequences keep the loop.
UNROLL_MAX_STEPS = 64


def recurrent(units: int, timesteps: int, **kwargs) -> layers.LSTM:
    """An LSTM layer over ``timesteps`` steps, unrolled when they are few (the same weights and outputs).
    TensorFlow's fused BlockLSTM kernel (the same outputs and gradients) was tried and trained slower here;
    so were convolutions written as one matrix product (``SpanConv1D`` pays only for the spanning one)."""
    return layers.LSTM(units, unroll=timesteps <= UNROLL_MAX_STEPS, **kwargs)


class SpanConv1D(layers.Conv1D):
    """A 'valid' Conv1D whose kernel spans its whole input (output length 1), computed as one matrix
    product of the flattened input and the reshaped kernel: the same weights and outputs as Conv1D,
    a third of its time per training step here (TensorFlow's convolution kernels are slow at this shape)."""

    def call(self, inputs):
        length, channels = inputs.shape[1], inputs.shape[2]
        if length != self.kernel_size[0]:
            return super().call(inputs)
        flat = ops.reshape(inputs, (-1, length * channels))
        outputs = ops.matmul(flat, ops.reshape(self.kernel, (length * channels, self.filters)))
        if self.use_bias:
            outputs = outputs + self.bias
        outputs = ops.expand_dims(outputs, 1)
        return self.activation(outputs) if self.activation is not None else outputs


def n_halvings(l_win: int) -> int:
    """Stride-2 steps that bring l_win down to at most 8 points."""
    return max(math.ceil(math.log2(l_win / 8)), 0)


def build_encoder(l_win: int, n_channel: int, code_size: int, num_hidden_units: int,
                  code_std_floor: float) -> keras.Model:
    """Window (l_win, n_channel) -> code mean and std, each (code_size,)."""
    steps = n_halvings(l_win)
    x_in = keras.Input((l_win, n_channel), name="window")
    x = x_in
    for k in range(steps):
        filters = max(num_hidden_units // 2 ** (steps + 1 - k), 8)
        x = layers.Conv1D(filters, 3, strides=2, padding="same", name=f"conv_{k + 1}")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = SpanConv1D(num_hidden_units, x.shape[1], padding="valid", name="conv_span")(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(code_size * 4, name="dense_code")(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    mean = layers.Dense(code_size, name="code_mean")(x)
    std = layers.Dense(code_size, activation="relu", name="code_std_raw")(x)
    std = layers.Lambda(lambda s: s + code_std_floor, name="code_std")(std)
    return keras.Model(x_in, [mean, std], name="encoder")


def default_decoder_channels(num_hidden_units: int) -> int:
    """num_hidden_units // 4, within [16, MAX_DECODER_CHANNELS]."""
    return min(max(num_hidden_units // 4, 16), MAX_DECODER_CHANNELS)


def build_decoder(l_win: int, n_channel: int, code_size: int, num_hidden_units: int,
                  channels: int | None = None) -> keras.Model:
    """Code (code_size,) -> window (l_win, n_channel). ``channels``: those of the seed and of the first
    convolution, halved after each upsampling (at least 16); by default ``default_decoder_channels``."""
    steps = n_halvings(l_win)
    start_len = math.ceil(l_win / 2**steps)
    channels = channels or default_decoder_channels(num_hidden_units)
    z_in = keras.Input((code_size,), name="code")
    x = layers.Dense(num_hidden_units, name="dense_hidden")(z_in)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.Dense(start_len * channels, name="dense_seed")(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.Reshape((start_len, channels))(x)
    for k in range(steps):
        x = layers.Conv1D(max(channels // 2**k, 16), 3, padding="same", name=f"conv_{k + 1}")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
        x = layers.UpSampling1D(2)(x)
    extra = start_len * 2**steps - l_win
    if extra:
        x = layers.Cropping1D((extra // 2, extra - extra // 2))(x)
    x = layers.Conv1D(16, 3, padding="same", name="conv_smooth")(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x_out = layers.Conv1D(n_channel, 5, padding="same", name="window_out")(x)
    return keras.Model(z_in, x_out, name="decoder")


def fold_upsampling(model: keras.Model) -> keras.Model:
    """The same function as ``model``, a chain of layers such as the decoder, with each ``UpSampling1D(2)``
    followed by a 'same' ``Conv1D`` of kernel 3 computed as one Conv1D of twice the channels on the input
    before upsampling, then a reshape that interleaves its two halves: output 2i is ``w0 x[i-1] + (w1 + w2)
    x[i]``, output 2i + 1 is ``(w0 + w1) x[i] + w2 x[i+1]``. The same multiply-adds, without the upsampled
    copy of the activations; outputs equal to float rounding. For scoring only (``scoring.scoring_decoder``):
    it copies the weights, so it is rebuilt when they change, and its checkpoints would not be the decoder's."""
    if not _is_chain(model):
        return model
    chain = _chain_layers(model)
    x = inputs = keras.Input(model.inputs[0].shape[1:])
    k = 0
    while k < len(chain):
        layer, after = chain[k], chain[k + 1] if k + 1 < len(chain) else None
        if _foldable(layer, after):
            kernel, bias = after.get_weights()
            zero = np.zeros_like(kernel[0])
            even = np.stack([kernel[0], kernel[1] + kernel[2], zero])
            odd = np.stack([zero, kernel[0] + kernel[1], kernel[2]])
            conv = layers.Conv1D(2 * after.filters, 3, padding="same", data_format="channels_last",
                                 dtype=after.dtype_policy, name=f"{after.name}_folded")
            x = conv(x)
            conv.set_weights([np.concatenate([even, odd], axis=2), np.concatenate([bias, bias])])
            x = layers.Reshape((2 * x.shape[1], after.filters))(x)
            k += 2
            continue
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
        k += 1
    return keras.Model(inputs, x, name=f"{model.name}_folded")


def _is_chain(model: keras.Model) -> bool:
    """Whether each layer of ``model`` takes exactly the output of the one before it (one input, one output)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1 or not _chain_layers(model):
        return False
    previous = model.inputs[0]
    for layer in _chain_layers(model):
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            return False
        previous = layer.output
    return previous is model.outputs[0]


def _chain_layers(model: keras.Model) -> list:
    """``model``'s layers after its input (a functional model lists its ``InputLayer``, a Sequential does not)."""
    return [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]


def _foldable(layer, after) -> bool:
    return (type(layer) is layers.UpSampling1D and layer.size == 2 and type(after) is layers.Conv1D
            and after.kernel_size == (3,) and after.strides == (1,) and after.dilation_rate == (1,)
            and after.padding == "same" and after.data_format == "channels_last" and after.groups == 1
            and after.use_bias and not getattr(after, "lora_enabled", False)
            and after.get_config()["activation"] == "linear")


def elbo_terms(x, x_hat, mean, std, sigma2):
    """Per-window terms of the negative ELBO (a Gaussian decoder with variance sigma2).

    Returns (squared_error, kl, negative_elbo), each of shape (batch,):
    squared_error = sum of (x - x_hat)^2 over the window; kl = KL(q(z|x) || N(0, I));
    negative_elbo = squared_error / (2 sigma2) + D/2 log(2 pi sigma2) + kl, with D = l_win * n_channel.
    Training minimises its mean; detection uses the same function for the VAE-only score.
    """
    squared_error = ops.sum(ops.square(x - x_hat), axis=(1, 2))
    kl = 0.5 * ops.sum(ops.square(mean) + ops.square(std) - 2.0 * ops.log(std) - 1.0, axis=1)
    dims = float(x.shape[1] * x.shape[2])
    nll = squared_error / (2.0 * sigma2) + 0.5 * dims * ops.log(2.0 * np.pi * sigma2)
    return squared_error, kl, nll + kl


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """Window VAE with the paper's ELBO, trained by ``fit`` through ``train_step``."""

    def __init__(self, l_win: int, n_channel: int, code_size: int, num_hidden_units: int,
                 sigma: float = 0.1, sigma2_offset: float = 0.01, train_sigma: bool = False,
                 code_std_floor: float = 0.01, seed: int = 0, decoder_channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.l_win, self.n_channel, self.code_size = l_win, n_channel, code_size
        self.num_hidden_units = num_hidden_units
        self.sigma_init, self.sigma2_offset, self.train_sigma = sigma, sigma2_offset, train_sigma
        self.code_std_floor, self.seed, self.decoder_channels = code_std_floor, seed, decoder_channels
        self.encoder = build_encoder(l_win, n_channel, code_size, num_hidden_units, code_std_floor)
        self.decoder = build_decoder(l_win, n_channel, code_size, num_hidden_units, decoder_channels)
        self.sigma = self.add_weight(shape=(), initializer=keras.initializers.Constant(sigma),
                                     trainable=train_sigma, name="sigma")
        self.sample_seed = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.squared_error_tracker = keras.metrics.Mean(name="squared_error")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.sigma2_tracker = keras.metrics.Mean(name="sigma2")
        self.built = True  # encoder and decoder are built functional models

    @property
    def metrics(self):
        return [self.loss_tracker, self.squared_error_tracker, self.kl_tracker, self.sigma2_tracker]

    def sigma2(self):
        return ops.square(self.sigma) + self.sigma2_offset

    def sample_code(self, mean, std):
        """Reparameterised sample z = mean + std * eps."""
        return mean + std * keras.random.normal(ops.shape(mean), seed=self.sample_seed)

    def call(self, x, training=False):
        """Reconstruct windows: through a sampled code when training, through the code mean otherwise."""
        mean, std = self.encoder(x, training=training)
        z = self.sample_code(mean, std) if training else mean
        return self.decoder(z, training=training)

    def elbo_losses(self, x, training):
        mean, std = self.encoder(x, training=training)
        x_hat = self.decoder(self.sample_code(mean, std), training=training)
        sigma2 = self.sigma2()
        squared_error, kl, negative_elbo = elbo_terms(x, x_hat, mean, std, sigma2)
        return ops.mean(negative_elbo), ops.mean(squared_error), ops.mean(kl), sigma2

    def update_trackers(self, loss, squared_error, kl, sigma2):
        self.loss_tracker.update_state(loss)
        self.squared_error_tracker.update_state(squared_error)
        self.kl_tracker.update_state(kl)
        self.sigma2_tracker.update_state(sigma2)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss, squared_error, kl, sigma2 = self.elbo_losses(x, training=True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self.update_trackers(loss, squared_error, kl, sigma2)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self.update_trackers(*self.elbo_losses(x, training=False))

    def get_config(self):
        return {**super().get_config(), "l_win": self.l_win, "n_channel": self.n_channel,
                "code_size": self.code_size, "num_hidden_units": self.num_hidden_units,
                "sigma": self.sigma_init, "sigma2_offset": self.sigma2_offset,
                "train_sigma": self.train_sigma, "code_std_floor": self.code_std_floor, "seed": self.seed,
                **({"decoder_channels": self.decoder_channels} if self.decoder_channels else {})}


def build_lstm(l_seq: int, code_size: int, num_hidden_units_lstm: int) -> keras.Model:
    """Codes of l_seq - 1 windows -> predicted codes of the next l_seq - 1 windows (one step ahead)."""
    codes = keras.Input((l_seq - 1, code_size), name="codes")
    steps = l_seq - 1
    x = recurrent(num_hidden_units_lstm, steps, return_sequences=True, name="lstm_1")(codes)
    x = recurrent(num_hidden_units_lstm, steps, return_sequences=True, name="lstm_2")(x)
    next_codes = recurrent(code_size, steps, return_sequences=True, activation=None, name="lstm_out")(x)
    return keras.Model(codes, next_codes, name="lstm_predictor")


def vae_from_config(config) -> VAE:
    return VAE(l_win=config.l_win, n_channel=config.n_channel, code_size=config.code_size,
               num_hidden_units=config.num_hidden_units, sigma=config.sigma,
               sigma2_offset=config.sigma2_offset, train_sigma=config.TRAIN_sigma,
               code_std_floor=config.code_std_floor, seed=config.seed, decoder_channels=config.vae_decoder_channels)


def lstm_from_config(config) -> keras.Model:
    return build_lstm(config.l_seq, config.code_size, config.num_hidden_units_lstm)
