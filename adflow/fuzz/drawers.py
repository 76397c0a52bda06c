"""Where the generator's choices come from: a seeded ``random.Random`` or hypothesis' ``draw``."""
import random


class RandomDrawer:
    """Choices from a seeded ``random.Random`` (the long campaign)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, options):
        return options[self.rng.randrange(len(options))]

    def boolean(self, p=0.5):
        return self.rng.random() < p


class HypothesisDrawer:
    """Choices from hypothesis' ``draw`` (the tests): simplest options first, so failures shrink."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self.draw = draw
        self.st = st

    def integer(self, lo, hi):
        return self.draw(self.st.integers(lo, hi))

    def choice(self, options):
        return options[self.draw(self.st.integers(0, len(options) - 1))]

    def boolean(self, p=0.5):
        # 0 (what hypothesis shrinks to) means False: the simpler program.
        return self.draw(self.st.integers(0, 999)) >= 1000 - int(1000 * p)
