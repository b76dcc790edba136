"""How a skyseg model is built and trained: Ultralytics kept offline, configs and checkpoints loaded without a
download, and the training entry used by `skyseg train`.

A change to how models are loaded, configured or trained belongs here; the network's blocks stay one level up.
"""
