"""Cloud cover inside the sky mask: the 33-region ring grid that labels and scores use (`grid`), per-pixel cloud
maps from the display frame and the sky mask (`detect`), and the clear-sky reference a fixed camera learns over a
night (`reference`). Pure numpy/OpenCV on 8-bit display frames: no PyTorch, no model, no astrometry. Scoring against
labels lives in runtime/quality, writing maps in sinks."""
