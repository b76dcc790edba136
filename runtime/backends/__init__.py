"""What runs the network: the backend interface and the model contract check (`base`), ONNX Runtime (`ort`),
TensorRT (`trt`) and its engine file/sidecar format (`engine_file`). A new inference engine goes here as one module
that subclasses `base.Backend` and is chosen in `base.open_backend`; pre- and post-processing stay in `process/`."""
