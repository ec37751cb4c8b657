"""Implementation modules of the effect system; the public façade is :mod:`durable_effect.effect`."""
