"""How the pipeline draws at random: seeds mixed from integers, and how many images a fraction takes.

NumPy's SeedSequence mixes all the integers it is given, so (seed 0, member 1) and (seed 1, member 0) draw
different streams, as `seed + member` would not.
"""
import numpy as np


def seed32(*entropy):
    """A 32-bit seed mixed from the integers `entropy` by NumPy's SeedSequence."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def generator(*entropy):
    """A NumPy Generator seeded with the integers `entropy` mixed by SeedSequence."""
    return np.random.default_rng(np.random.SeedSequence(list(entropy)))


def part_size(count, fraction):
    """How many of `count` images `fraction` takes: round(count * fraction), halves to even (Python's round)."""
    return int(round(count * fraction))
