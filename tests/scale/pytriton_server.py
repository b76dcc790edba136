"""A real Triton server for the tests: PyTriton's embedded tritonserver serving an ONNX model through ONNX Runtime
in a bound function. Runs in its own virtual environment (PyTriton pins numpy<2): imports nothing of skyseg.

    python pytriton_server.py MODEL.onnx NAME HTTP_PORT GRPC_PORT METRICS_PORT
"""
import sys

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def main() -> None:
    model, name, http_port, grpc_port, metrics_port = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    outs = sess.get_outputs()
    batched = not isinstance(inp.shape[0], int)

    def run(**inputs):
        images = inputs[inp.name].astype(np.float32)
        values = sess.run([o.name for o in outs], {inp.name: images})
        return dict(zip((o.name for o in outs), values))

    def per_request(requests):  # unbatched: PyTriton hands over the list of requests
        return [run(**dict(r)) for r in requests]

    infer = batch(run) if batched else per_request

    def shape(s: tuple) -> tuple:
        return tuple(d if isinstance(d, int) else -1 for d in (s[1:] if batched else s))

    config = TritonConfig(http_address="127.0.0.1", grpc_address="127.0.0.1", http_port=http_port,
                          grpc_port=grpc_port, metrics_port=metrics_port)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=name,
            infer_func=infer,
            inputs=[Tensor(name=inp.name, dtype=np.float32, shape=shape(inp.shape))],
            outputs=[Tensor(name=o.name, dtype=np.float32, shape=shape(o.shape)) for o in outs],
            config=ModelConfig(max_batch_size=8 if batched else 0, batching=batched),
            strict=True,
        )
        print("serving", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
