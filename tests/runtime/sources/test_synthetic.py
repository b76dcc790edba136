"""`test://sky` finds its renderer through the registry (entry point or register_renderer), never by import."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame
from skyseg.runtime.sources import synthetic
from skyseg.runtime.sources.uri import open_source


def test_installed_entry_point_is_the_generator() -> None:
    from skyseg.synth import render_scene

    assert synthetic.find_renderer("sky") is render_scene
    with open_source("test://sky?n=2&w=96&h=64&seed=3") as src:
        frames = list(src)
    assert [type(f) for f in frames] == [Frame, Frame]
    want = render_scene(4, kind="mixed", size=(96, 64), bit_depth=8)
    assert np.array_equal(frames[1].pixels, want.image) and np.array_equal(frames[1].meta["mask"], want.mask)


def test_a_registered_renderer_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_registered", {})
    calls = []

    def flat(seed: int, kind: str, size: tuple[int, int], bit_depth: int) -> SimpleNamespace:
        calls.append(seed)
        w, h = size
        return SimpleNamespace(image=np.full((h, w, 3), seed, np.uint8), mask=np.ones((h, w), bool))

    synthetic.register_renderer("sky", flat)
    with open_source("test://sky?n=3&w=8&h=4&seed=10") as src:
        assert [int(f.pixels[0, 0, 0]) for f in src] == [10, 11, 12]
    assert calls == [10, 11, 12]


def test_no_renderer_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_registered", {})
    monkeypatch.setattr(synthetic, "_entry_points", lambda group: [])
    with pytest.raises(InputError, match="needs a scene renderer called 'sky': none is registered"):
        synthetic.find_renderer("sky")
