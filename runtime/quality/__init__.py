"""How right the masks are: sky-mask IoU against labelled frames (`evaluate`), the shared overlap arithmetic
(`mask_metrics`) and overlay contact sheets to look at (`overlay_sheet`). Runtime-only: no PyTorch."""
