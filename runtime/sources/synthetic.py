"""`test://sky` frames: synthetic night skies with their true masks, from a scene renderer found through a registry.

The runtime never imports the generator (skyseg.synth sits above it). A renderer is any callable
`render(seed, kind=..., size=(w, h), bit_depth=8|16)` returning an object with `.image` and `.mask`; it is found by
name among those registered in this process (`register_renderer`, for callers and tests) and then among the
installed entry points of the group `skyseg.scene_renderers` (skyseg registers `sky = skyseg.synth:render_scene`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.sources.uri import Source, SourceSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "skyseg.scene_renderers"
_registered: dict[str, Callable[..., Any]] = {}


def register_renderer(name: str, render: Callable[..., Any]) -> None:
    """Make `render` the scene renderer called `name` for this process (overrides an installed entry point)."""
    _registered[name] = render


def _entry_points(group: str) -> list[Any]:
    from importlib import metadata

    eps = metadata.entry_points()
    if hasattr(eps, "select"):  # Python 3.10+
        return list(eps.select(group=group))
    return list(eps.get(group, []))  # Python 3.8/3.9: a dict of group -> entry points


def find_renderer(name: str) -> Callable[..., Any]:
    """The scene renderer called `name`, or InputError saying why there is none."""
    if name in _registered:
        return _registered[name]
    for ep in _entry_points(ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                render = ep.load()
            except Exception as err:  # any import failure of a plug-in is reported the same way
                raise InputError(f"test://{name} needs the scene renderer {ep.value}, which failed to load "
                                 f"({type(err).__name__}: {err})") from None
            _registered[name] = render
            return render
    raise InputError(f"test://{name} needs a scene renderer called {name!r}: none is registered "
                     f"(install skyseg with its synth package, or call register_renderer)")


class SynthSource(Source):
    """`test://sky`: synthetic night skies from the registered `sky` renderer (skyseg.synth's `render_scene`), each with its true sky mask in `meta["mask"]`.

    Options: `n` frames (default 30), `seed` (frame i uses seed + i), `kind` (scene kind), `w`/`h`, `bits` (8/16).
    """

    def __init__(self, spec: SourceSpec, loop: bool = False) -> None:
        super().__init__(spec)
        self.loop = loop
        o = spec.options
        self.count = int(o.get("n", 30))
        self.seed = int(o.get("seed", 0))
        self.scene_kind = str(o.get("kind", "mixed"))
        self.size_wh = (int(o.get("w", 640)), int(o.get("h", 480)))
        self.bit_depth = int(o.get("bits", 8))
        self._render: Any = None

    def _open(self) -> None:
        self._render = find_renderer("sky")
        w, h = self.size_wh
        self.description = f"synthetic night sky, {self.count} frame(s) {w}x{h} {self.bit_depth}-bit, seed {self.seed}"

    def _frames(self) -> Iterator[Frame | FrameError]:
        import time

        index = 0
        while True:
            for i in range(self.count):
                scene = self._render(self.seed + i, kind=self.scene_kind, size=self.size_wh,
                                     bit_depth=self.bit_depth)
                meta = {"mask": scene.mask, "kind": getattr(scene, "kind", self.scene_kind),
                        "seed": self.seed + i, "conditions": getattr(scene, "conditions", None)}
                yield Frame(scene.image, index, self.source_id, time.time(), None, meta)
                index += 1
            if not self.loop:
                return


__all__ = ["ENTRY_POINT_GROUP", "SynthSource", "find_renderer", "register_renderer"]
