"""Networks (flax.linen MLPs) and the tanh-squashed Gaussian policy distribution.

Parameters are plain nested dicts of arrays (``{"params": {"Dense_0": {...}}}``):
``jax.tree.map(np.asarray, params)`` gives numpy, and they go back in as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

MIN_STD = 1e-3  # floor of the policy's standard deviation: keeps log-probabilities finite


class MLP(nn.Module):
    """Dense layers with ``activation`` between them (none after the last).

    ``layer_sizes``: output size of each layer, the last one the output size.
    Works on any leading batch shape: ``(..., in) -> (..., layer_sizes[-1])``.
    """

    layer_sizes: Sequence[int]
    activation: Callable = nn.swish
    final_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        last = len(self.layer_sizes) - 1
        for i, size in enumerate(self.layer_sizes):
            scale = self.final_scale if i == last else 1.0
            init = nn.initializers.variance_scaling(scale, "fan_in", "uniform")
            x = nn.Dense(size, kernel_init=init)(x)
            if i < last:
                x = self.activation(x)
        return x


class Network:
    """An MLP as two pure functions: ``init(key) -> params`` and ``apply(params, x) -> y``."""

    def __init__(self, input_size: int, layer_sizes: Sequence[int], final_scale: float = 1.0):
        self.input_size = int(input_size)
        self.module = MLP(tuple(int(s) for s in layer_sizes), final_scale=final_scale)

    def init(self, key: jax.Array) -> dict:
        return self.module.init(key, jnp.zeros((1, self.input_size)))

    def apply(self, params: dict, x: jax.Array) -> jax.Array:
        return self.module.apply(params, x)


def policy_network(observation_size: int, action_size: int, hidden: Sequence[int], stochastic: bool = True) -> Network:
    """Policy MLP: ``(..., obs) -> (..., 2 * action)`` (Gaussian loc and raw scale) or ``(..., action)``."""
    out = 2 * action_size if stochastic else action_size
    # A small last layer starts every action near 0 (and the Gaussian's scale near softplus(0)).
    return Network(observation_size, (*hidden, out), final_scale=0.01)


def value_network(observation_size: int, hidden: Sequence[int]) -> Network:
    """Value MLP: ``(..., obs) -> (..., 1)``."""
    return Network(observation_size, (*hidden, 1))


# The tanh-Gaussian: an action is tanh(u) with u ~ Normal(loc, scale), scale =
# softplus(raw) + MIN_STD; ``logits`` is the policy output (..., 2 * action).


def gaussian(logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(loc, scale) of the pre-tanh Gaussian, each ``(..., action)``."""
    loc, raw = jnp.split(logits, 2, axis=-1)
    return loc, jax.nn.softplus(raw) + MIN_STD


def sample_raw(logits: jax.Array, key: jax.Array) -> jax.Array:
    """A pre-tanh sample ``u (..., action)``."""
    loc, scale = gaussian(logits)
    return loc + scale * jax.random.normal(key, loc.shape, loc.dtype)


def gaussian_log_prob(logits: jax.Array, raw: jax.Array) -> jax.Array:
    """``(...)`` log-density of the pre-tanh sample ``raw`` (summed over action dims)."""
    loc, scale = gaussian(logits)
    z = (raw - loc) / scale
    return jnp.sum(-0.5 * z**2 - jnp.log(scale) - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def tanh_log_det(raw: jax.Array) -> jax.Array:
    """``(...)`` log |d tanh(u) / du| summed over action dims, written to stay finite for large |u|."""
    return jnp.sum(2.0 * (jnp.log(2.0) - raw - jax.nn.softplus(-2.0 * raw)), axis=-1)


def tanh_gaussian_log_prob(logits: jax.Array, raw: jax.Array) -> jax.Array:
    """``(...)`` log-density of the action ``tanh(raw)``."""
    return gaussian_log_prob(logits, raw) - tanh_log_det(raw)


def gaussian_entropy(logits: jax.Array) -> jax.Array:
    """``(...)`` entropy of the pre-tanh Gaussian."""
    _, scale = gaussian(logits)
    return jnp.sum(0.5 + 0.5 * jnp.log(2 * jnp.pi) + jnp.log(scale), axis=-1)


def mode(logits: jax.Array) -> jax.Array:
    """The deterministic action ``tanh(loc)``."""
    return jnp.tanh(gaussian(logits)[0])
