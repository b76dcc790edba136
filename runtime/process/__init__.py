"""Pixels in, masks out, around the network: letterbox and the 16-bit/FITS stretch, output decoding, NMS, mask
assembly, the segmenters that tie them to a backend, their CuPy/GPU variants, and the per-installation static
prior. A change to what the model sees or how its outputs become masks goes here; it must stay exact with the
train side's verification, which imports these same functions."""
