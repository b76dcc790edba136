"""Subcommands that make the model and its data: `synth`, `dataset`, `label`, `calib` and `train`.

They run on the training machine (PyTorch, Ultralytics); a new command that creates or checks training data or
trains belongs here.
"""
