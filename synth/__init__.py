"""Synthetic night skies with exact sky masks, and YOLO-seg dataset tooling.

Public API: `render_scene(seed, kind, size, bit_depth) -> Scene`, `generate_dataset(SynthConfig) -> Path`.
"""
from __future__ import annotations

from skyseg.synth.dataset import SynthConfig, generate_dataset
from skyseg.synth.scene import Scene, render_scene

__all__ = ["Scene", "SynthConfig", "generate_dataset", "render_scene"]
