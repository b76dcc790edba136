"""Hand-checked sky masks for one fixed camera: what `skyseg label` makes.

A median stack of a night's frames (through the runtime's readers and stretch), a proposed mask from a brightness
threshold, a fit of the fisheye image circle and morphological clean-up, then hand-drawn include/exclude polygons
on top; written as a 255 = sky PNG with an overlay to look at and a JSON record of every step, so the mask can be
remade exactly. Imports the runtime only (no PyTorch); the model plays no part here.
"""
from __future__ import annotations

from skyseg.label.recipe import Recipe, load_recipe
from skyseg.label.make_mask import LabelResult, label_frames

__all__ = ["Recipe", "load_recipe", "LabelResult", "label_frames"]
