"""FusedAdam: Keras's Adam rule through TensorFlow's fused kernel."""

import keras
import numpy as np

from vae_lstm.optimizers import FusedAdam


def small_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])


def train(optimizer, steps=30):
    model = small_model()
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((64, 5)).astype("float32"), rng.standard_normal((64, 2)).astype("float32")
    model.fit(x, y, batch_size=16, epochs=steps // 4, shuffle=False, verbose=0)
    return model


def test_fused_adam_takes_kerass_adam_steps():
    """With a decaying learning rate and clipping: the weights of Keras's Adam after 28 steps (a wrong
    bias correction, beta or learning rate moves them far more than the tolerance)."""
    def schedule():
        return keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.7, staircase=True)

    ref = train(keras.optimizers.Adam(schedule(), beta_1=0.8, beta_2=0.95, clipvalue=0.5))
    got = train(FusedAdam(schedule(), beta_1=0.8, beta_2=0.95, clipvalue=0.5))
    start = small_model().get_weights()
    for r, g, s in zip(ref.get_weights(), got.get_weights(), start, strict=True):
        assert np.abs(r - s).max() > 0.01  # the weights did move
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
    assert int(got.optimizer.iterations) == int(ref.optimizer.iterations) == 28


def test_a_checkpoint_with_fused_adam_loads_and_resumes(tmp_path):
    model = train(FusedAdam(0.01), steps=8)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, FusedAdam) and int(loaded.optimizer.iterations) == 8
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_steps_shared_constants_are_computed_once_per_step_not_per_variable():
    """The beta powers of a step are built once for all variables (the same values, fewer ops): a traced train
    step of a model with 4 variables holds 2 Pow ops, where building them per variable gave 8."""
    import tensorflow as tf

    model = small_model()
    model.compile(optimizer=FusedAdam(0.01), loss="mse")
    model.optimizer.build(model.trainable_variables)
    spec = tf.TensorSpec((16, 5), tf.float32), tf.TensorSpec((16, 2), tf.float32)
    graph = tf.function(lambda x, y: model.train_step((x, y))).get_concrete_function(*spec).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count("ResourceApplyAdam") == len(model.trainable_variables) == 4
    assert types.count("Pow") == 2
    assert model.optimizer._step_constants is None  # nothing kept from the traced step
