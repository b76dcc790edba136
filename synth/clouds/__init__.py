"""Night skies with clouds whose exact per-pixel cloud masks are known: clouds lit from below by towns, moonlit
clouds beside a moon and its halo, thin cloud that only dims stars, and dark cloud that hides stars and airglow.
For testing the runtime's cloud step (runtime/clouds) against a known answer; nothing here is used at run time."""
from __future__ import annotations

from skyseg.synth.clouds.render import CLOUD_KINDS, CloudyScene, render_cloudy_sky

__all__ = ["CLOUD_KINDS", "CloudyScene", "render_cloudy_sky"]
