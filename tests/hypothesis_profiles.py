"""Hypothesis example counts by profile, never per test: ``ci`` (the default, what
``make test`` runs) sizes each property to a fast answer; ``thorough`` (``make
test-thorough``, or ``HYPOTHESIS_PROFILE=thorough``) searches at least as deep as any
test ever did on its own."""

from __future__ import annotations

import os

from hypothesis import settings

CI = "ci"
THOROUGH = "thorough"
# deadline=None: a slow example on a loaded machine is not a failure.
settings.register_profile(CI, max_examples=200, deadline=None)
settings.register_profile(THOROUGH, max_examples=3000, deadline=None)


def load() -> None:
    """Load the profile ``HYPOTHESIS_PROFILE`` names (``ci`` unless set); pytest's own
    ``--hypothesis-profile`` option, applied after this, still wins."""
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", CI))


def share(divisor: int, *, at_least: int = 1) -> int:
    """A fraction of the loaded profile's examples, for a property whose every example
    is costly (a Spark job): it scales with the profile instead of being fixed."""
    return max(at_least, settings.default.max_examples // divisor)
