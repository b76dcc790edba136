"""Subcommands that run a deployed model on frames: `run`, `serve`, `archive` and `evaluate`.

They need only the runtime (ONNX Runtime / TensorRT / OpenVINO, no PyTorch); a new way to feed frames to a model
or to score its masks belongs here.
"""
