"""TensorRT: the builder-flag plan (`build`, pure and tested anywhere), the engine build itself (`engine`, imports
`tensorrt` lazily), and the ONNX-parser support tables (`ops`) that `lint` checks a graph against.

A new TensorRT flag, builder step or operator rule belongs here; running an engine is the runtime's job
(`skyseg.runtime.backends.trt`).
"""
