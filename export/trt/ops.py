"""Which ONNX operators the TensorRT ONNX parser accepts, per TensorRT release we target.

Compiled by hand from onnx-tensorrt's `docs/operators.md` ("Operator Support Matrix"), rows marked `Y`, and its
`docs/Changelog.md` (which release added which importer):

* TensorRT 8.5 (JetPack 5.1.x ships 8.5.2): the release/8.5-GA matrix ("TensorRT 8.5 supports operators up to
  Opset 17"). LayerNormalization is `N` there, so an opset-17 export with LayerNormalization does not parse on
  JetPack 5; `skyseg export --target jetpack5` decomposes it (`skyseg.export.jetpack5`).
* TensorRT 8.6 (desktop/server GPUs): 8.5 plus GroupNormalization, LayerNormalization and IsInf (changelog, 8.6 EA);
  "TensorRT 8.6 supports operators up to Opset 17".
* TensorRT 10.3 (JetPack 6.x ships 10.3): the 10.x matrix ("opset 9 to opset 20") without what 10.4 and later
  added: BlackmanWindow, HammingWindow, HannWindow (10.4) and STFT (10.5).
* TensorRT 10.x (newest 10.x): the 10.15 table without its opset 23/24 additions (Attention, RMSNormalization,
  RotaryEmbedding, TensorScatter), as a conservative floor for any 10.x after 10.3.
* TensorRT 11.x: the 10.15 matrix ("opset 9 to opset 24"; the 11.2 doc states the same range). We could not read an
  11.x matrix itself; 11.x removed implicit quantization and builder precision flags, not parser operators.

Key per-operator restrictions from the same tables are checked in `skyseg.export.trt.lint`. Keep this file data only.
"""
from __future__ import annotations

from dataclasses import dataclass

_TRT85 = """
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu Clip
Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div Dropout Einsum
Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm GlobalAveragePool GlobalLpPool
GlobalMaxPool Greater GreaterOrEqual GridSample GRU HardSwish HardSigmoid Identity If ImageScaler
InstanceNormalization IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul
Max MaxPool Mean MeanVarianceNormalization Min Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
ReduceSumSquare Relu Reshape Resize ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements
ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt
Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
"""
_ADDED_86 = "GroupNormalization IsInf LayerNormalization"
_ADDED_10 = "CastLike DeformConv Gelu Hardmax Mish"  # in the 10.x matrix; 10.3 has them (Hardmax 9.2, DeformConv 10.1)
_ADDED_104 = "BlackmanWindow HammingWindow HannWindow STFT"  # windows 10.4, STFT 10.5
_ADDED_1015 = "Attention RMSNormalization RotaryEmbedding TensorScatter"


@dataclass(frozen=True)
class TrtTarget:
    """One TensorRT release line as the lint sees it."""

    name: str  # "8.5", "8.6", "10.3", "10", "11"
    label: str  # for tables: "TRT 8.5 (JetPack 5.1)"
    min_opset: int
    max_opset: int
    ops: frozenset[str]
    int64_io: bool  # INT64 network inputs/outputs (DataType::kINT64 exists since 10.0)
    implicit_int8: bool  # calibrator-based INT8 (removed in 11)
    fp16_flag: bool  # BuilderFlag.FP16 (removed in 11: strongly typed only)


def _ops(*chunks: str) -> frozenset[str]:
    return frozenset(op for chunk in chunks for op in chunk.split())


TARGETS: dict[str, TrtTarget] = {
    "8.5": TrtTarget("8.5", "TRT 8.5 (JetPack 5.1)", 9, 17, _ops(_TRT85), False, True, True),
    "8.6": TrtTarget("8.6", "TRT 8.6", 9, 17, _ops(_TRT85, _ADDED_86), False, True, True),
    "10.3": TrtTarget("10.3", "TRT 10.3 (JetPack 6)", 9, 20, _ops(_TRT85, _ADDED_86, _ADDED_10), True, True, True),
    "10": TrtTarget("10", "TRT 10.x", 9, 20, _ops(_TRT85, _ADDED_86, _ADDED_10, _ADDED_104), True, True, True),
    "11": TrtTarget("11", "TRT 11.x", 9, 24, _ops(_TRT85, _ADDED_86, _ADDED_10, _ADDED_104, _ADDED_1015), True, False,
                    False),
}
# What `skyseg export` lints for unless told otherwise: every line a plain opset-17 export can serve. 8.5 (JetPack 5)
# is asked for with `--target jetpack5`, whose export holds no LayerNormalization.
DEFAULT_TARGETS = ("8.6", "10.3", "10", "11")
# Targets whose parser needs Slice/Squeeze/... index inputs as initializers (relaxed in 10.x)
PARSER_8 = frozenset({"8.5", "8.6"})

# Restriction values from the Resize row (identical in 8.5 and 10.15).
RESIZE_MODES = frozenset({"nearest", "linear"})
RESIZE_COORD_MODES = frozenset({"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"})
RESIZE_NEAREST_MODES = frozenset({"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"})
# Inputs the 8.x parser requires to be initializers/constants ("`axes` must be an initializer", "`K` input must
# be an initializer"); 10.x relaxed most of them to "build-time constant".
CONSTANT_INPUTS_86: dict[str, tuple[int, ...]] = {"Slice": (3,), "Squeeze": (1,), "Unsqueeze": (1,), "TopK": (1,), "CumSum": (1,)}
# Operators that are legal but that skyseg's deploy graph must not contain (FACTS: avoid Loop/Scan/Einsum).
CONTROL_FLOW = frozenset({"Loop", "Scan", "If"})
DISCOURAGED = frozenset({"Einsum", "NonZero", "NonMaxSuppression"})
