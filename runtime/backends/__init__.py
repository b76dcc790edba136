"""What runs the network: the backend interface and the model contract check (`base`), ONNX Runtime (`ort`),
OpenVINO (`openvino`), TensorRT (`trt`) and its engine file/sidecar format (`engine_file`), the Triton client
(`triton`), and `--backend auto`'s measured, cached choice between ONNX Runtime and OpenVINO (`auto`). A new
inference engine goes here as one module that subclasses `base.Backend` and is chosen in `base.open_backend`;
pre- and post-processing stay in `process/`."""
