"""How much work one executed op does: FLOPs and bytes moved, from its type and shapes.

Pure: op types and static shapes in (recorded at trace time by the callback, `op_shapes`),
counts out. Formulas for the ops that dominate training time (matmuls, convolutions and
their gradients, elementwise math, reductions); data movement (reshapes, slices, copies)
does no FLOPs; any other op is counted in bytes only and labelled `BYTES_ONLY`, so a layer
made of such ops is "estimated", never silently exact.

An unknown dimension (`None`, the batch of a Keras model) takes the batch size the window
executed (`attribution.executed_batch`); without one the op has no count.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

Dims = Optional[Tuple[Optional[int], ...]]  # None: unknown rank


class TensorSpec(NamedTuple):
    """One tensor's static shape and the bytes of one element (0 for resources/strings)."""

    dims: Dims
    itemsize: int


class OpShapes(NamedTuple):
    """What a count needs of one graph op: outputs, inputs, a few attributes."""

    outputs: Tuple[TensorSpec, ...]
    inputs: Tuple[TensorSpec, ...]
    attrs: Dict[str, Any]


class ShapedTable(list):
    """A graph table (rows of (name, type, input names), `owners.GraphTables`) that also
    carries its ops' shapes: old 3-tuple rows stay as they are for every reader."""

    def __init__(self, rows: Sequence = (), shapes: Optional[Dict[str, OpShapes]] = None):
        super().__init__(rows)
        self.shapes: Dict[str, OpShapes] = dict(shapes or {})


# Labels of a count.
EXACT = "exact"  # formula from complete shapes
BYTES_ONLY = "bytes-only"  # no FLOP formula for the type: bytes of inputs + outputs only
ESTIMATED = "estimated"  # a per-element FLOP figure by definition of the op (softmax, norms)


class OpWork(NamedTuple):
    """One execution of an op."""

    flops: float
    bytes: float
    label: str  # EXACT, ESTIMATED or BYTES_ONLY


_MATMULS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"}
_FUSED_MATMULS = {"_FusedMatMul", "_FusedBatchMatMulV2"}
_CONVS = {"Conv2D", "Conv3D", "_FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
          "Conv3DBackpropInputV2", "Conv3DBackpropFilterV2"}
_DEPTHWISE = {"DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
              "DepthwiseConv2dNativeBackpropFilter", "_FusedDepthwiseConv2dNative"}
# One FLOP per output element (transcendentals too: the roofline counts operations issued).
_ELEMENTWISE = {
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod",
    "Maximum", "Minimum", "Neg", "Square", "Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p",
    "Sigmoid", "Tanh", "Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign", "LeakyRelu",
    "Sin", "Cos", "Tan", "Abs", "Sign", "Floor", "Ceil", "Round", "Pow", "Reciprocal",
    "Inv", "SquaredDifference", "BiasAdd", "MulNoNan", "Erf", "Gelu", "Select", "SelectV2",
    "SigmoidGrad", "TanhGrad", "ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad", "SoftplusGrad",
    "LeakyReluGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad", "Greater", "GreaterEqual",
    "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot",
    "ClipByValue", "_FusedMulAdd", "_FusedAddN",
}
# One FLOP per input element.
_REDUCTIONS = {"Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "ArgMax", "ArgMin",
               "BiasAddGrad", "L2Loss", "EuclideanNorm"}
# A few FLOPs per element, by definition of the op (softmax: max, sub, exp, sum, div).
_PER_ELEMENT = {"Softmax": 5, "LogSoftmax": 5, "FusedBatchNormV3": 5, "FusedBatchNormGradV3": 8,
                "SoftmaxCrossEntropyWithLogits": 6, "SparseSoftmaxCrossEntropyWithLogits": 6,
                "_FusedBatchNormEx": 6, "LayerNorm": 8}
# Data movement and bookkeeping: no arithmetic, bytes as they are.
_NO_FLOPS = {
    "Identity", "IdentityN", "Reshape", "Squeeze", "ExpandDims", "ReadVariableOp",
    "StridedSlice", "StridedSliceGrad", "Slice", "Pack", "Unpack", "ConcatV2", "Concat",
    "Split", "SplitV", "Transpose", "Tile", "Const", "Shape", "ShapeN", "Size", "Rank",
    "Fill", "ZerosLike", "OnesLike", "Cast", "GatherV2", "ResourceGather", "Pad", "PadV2",
    "MirrorPad", "BroadcastTo", "BroadcastArgs", "BroadcastGradientArgs", "NoOp",
    "Placeholder", "_Arg", "_Retval", "Snapshot", "StopGradient", "PreventGradient",
    "ReverseV2", "Range", "Bitcast", "_HostCast", "EnsureShape", "ResourceStridedSliceAssign",
}

_SLICES = {"StridedSlice", "Slice", "GatherV2", "ResourceGather", "Gather", "Unpack", "Split",
           "SplitV"}


def op_shapes(op: Any) -> Optional[OpShapes]:
    """Static shapes of a TF graph op (duck-typed: `tf.Operation`), None when unreadable.

    Called at trace time for every op of a traced graph; analysis reads only the result.
    """
    try:
        outputs = tuple(_spec(t) for t in op.outputs)
        inputs = tuple(_spec(t) for t in op.inputs)
    except Exception:
        return None
    attrs: Dict[str, Any] = {}
    if op.type == "Einsum":
        try:
            attrs["equation"] = op.get_attr("equation").decode()
        except Exception:
            pass
    elif op.type in ("_FusedMatMul", "_FusedConv2D", "_FusedBatchMatMulV2"):
        try:
            attrs["fused"] = len(op.get_attr("fused_ops"))
        except Exception:
            pass
    return OpShapes(outputs, inputs, attrs)


def _spec(t: Any) -> TensorSpec:
    shape = t.shape
    dims = None if shape.rank is None else tuple(shape.as_list())
    try:
        itemsize = t.dtype.size if t.dtype.is_numeric or t.dtype.is_bool else 0
    except Exception:
        itemsize = 0
    return TensorSpec(dims, itemsize)


def resolve(dims: Dims, batch: int) -> Optional[Tuple[int, ...]]:
    """Concrete dims: unknown ones take the executed batch; None when that is unknown."""
    if dims is None:
        return None
    if all(d is not None for d in dims):
        return dims  # type: ignore[return-value]
    if not batch:
        return None
    return tuple(batch if d is None else d for d in dims)


def elements(dims: Sequence[int]) -> int:
    return math.prod(dims) if dims else 1


def _bytes(specs: Sequence[TensorSpec], batch: int) -> Optional[float]:
    total = 0
    for s in specs:
        if not s.itemsize:
            continue  # resource handles, strings: no tensor data moved
        dims = resolve(s.dims, batch)
        if dims is None:
            if s.dims is not None and len(s.dims) == 1:
                continue  # a vector of unknown length: reduction axes, a shape (a few bytes)
            return None
        total += elements(dims) * s.itemsize
    return float(total)


def canonical_type(op_type: str) -> str:
    """The stock type of a oneDNN (MKL) kernel: `_MklNativeFusedMatMul` -> `_FusedMatMul`,
    `_MklMatMul` -> `MatMul` (the profile shows the kernel TF actually ran)."""
    for prefix in ("_MklNative", "_Mkl"):
        if op_type.startswith(prefix):
            rest = op_type[len(prefix):]
            # ...BackpropFilterWithBias: the bias gradient (a sum) rides along, uncounted.
            rest = rest[:-len("WithBias")] if rest.endswith("WithBias") else rest
            return "_" + rest if rest.startswith("Fused") else rest
    return op_type


def op_work(op_type: str, shapes: OpShapes, batch: int = 0) -> Optional[OpWork]:
    """FLOPs and bytes of one execution of an op of type `op_type` (None: shapes unknown).

    `op_type` is the executed type: it may differ from the traced one (Grappler fuses
    MatMul + BiasAdd into _FusedMatMul under the BiasAdd's name); `count_fused` handles it.
    Ops of one type and shapes count alike: a Python loop's hundreds of slices are counted
    once (cached per signature).
    """
    try:
        signature = (op_type, shapes.outputs, shapes.inputs, tuple(sorted(shapes.attrs.items())), batch)
        hash(signature)
    except TypeError:  # an attribute value that cannot be a key
        return _op_work(op_type, shapes, batch)
    found = _WORK_CACHE.get(signature)
    if found is None:
        if len(_WORK_CACHE) > _WORK_CACHE_SIZE:
            _WORK_CACHE.clear()
        found = _WORK_CACHE[signature] = (_op_work(op_type, shapes, batch),)
    return found[0]


_WORK_CACHE: Dict[tuple, Tuple[Optional[OpWork]]] = {}
_WORK_CACHE_SIZE = 1 << 16


def _op_work(op_type: str, shapes: OpShapes, batch: int) -> Optional[OpWork]:
    op_type = canonical_type(op_type)
    moved = _bytes(shapes.inputs, batch)
    out_bytes = _bytes(shapes.outputs, batch)
    if moved is None or out_bytes is None:
        return None
    if op_type in _SLICES:
        moved = 0.0  # reads only what it takes (the output's size), not its whole input
    moved += out_bytes * (2 if op_type in _SLICES else 1)
    flops = op_flops(op_type, shapes, batch)
    if flops is None:
        return OpWork(0.0, moved, BYTES_ONLY)
    # An unknown dimension other than the leading one took the batch size too: likely
    # (a transposed batch) but not certain (a sequence length).
    guessed = batch and any(s.dims and None in s.dims[1:] for s in shapes.outputs + shapes.inputs)
    estimated = op_type in _PER_ELEMENT or guessed
    return OpWork(float(flops), moved, ESTIMATED if estimated else EXACT)


def op_flops(op_type: str, shapes: OpShapes, batch: int = 0) -> Optional[float]:
    """FLOPs of one execution, None when the type has no formula (or shapes are missing)."""
    outs = [resolve(s.dims, batch) for s in shapes.outputs]
    ins = [resolve(s.dims, batch) for s in shapes.inputs]
    out = outs[0] if outs else None
    if op_type in _NO_FLOPS:
        return 0.0
    if out is None:
        return None
    if op_type in _MATMULS or op_type in _FUSED_MATMULS:
        f = matmul_flops(out, ins[0], ins[1]) if len(ins) >= 2 else None
        if f is not None and op_type in _FUSED_MATMULS:
            f += elements(out) * shapes.attrs.get("fused", 1)
        return f
    if op_type in _CONVS:
        return conv_flops(op_type, out, ins, shapes.attrs.get("fused", 0))
    if op_type in _DEPTHWISE:
        return depthwise_flops(op_type, out, ins)
    if op_type == "Einsum":
        return einsum_flops(shapes.attrs.get("equation", ""), ins, out)
    if op_type in _ELEMENTWISE:
        return float(elements(out))
    if op_type == "AddN":
        return float(elements(out) * max(1, len(ins) - 1))
    if op_type in _REDUCTIONS:
        return float(elements(ins[0])) if ins and ins[0] is not None else None
    if op_type in _PER_ELEMENT:
        return float(elements(out) * _PER_ELEMENT[op_type])
    return None


def matmul_flops(out: Sequence[int], a: Optional[Sequence[int]],
                 b: Optional[Sequence[int]]) -> Optional[float]:
    """2·M·N·K per batch element. K from the operands without their transpose attributes:
    a's last two dims hold {M, K} and b's {K, N} in some order, so their products over
    M·N are K² (a broadcast batch in a or b is divided out the same way)."""
    if a is None or b is None or len(out) < 2 or len(a) < 2 or len(b) < 2:
        return None
    m, n = out[-2], out[-1]
    if not m or not n:
        return 0.0
    k2 = a[-2] * a[-1] * b[-2] * b[-1] / (m * n)
    return 2.0 * elements(out) * math.sqrt(k2)


def conv_flops(op_type: str, out: Sequence[int], ins: List, fused: int = 0) -> Optional[float]:
    """2 · output-gradient (or output) elements · window size · input channels."""
    if op_type in ("Conv2D", "Conv3D", "_FusedConv2D"):
        filt = ins[1] if len(ins) > 1 else None
        if filt is None:
            return None
        return 2.0 * elements(out) * elements(filt[:-1]) + elements(out) * fused
    if op_type.endswith("BackpropInputV2") or op_type.endswith("BackpropInput"):
        filt, grad = (ins[1], ins[2]) if len(ins) > 2 else (None, None)
        if filt is None or grad is None:
            return None
        return 2.0 * elements(grad) * elements(filt[:-1])
    grad = ins[2] if len(ins) > 2 else None  # backprop filter: out is the filter
    if grad is None:
        return None
    return 2.0 * elements(grad) * elements(out[:-1])


def depthwise_flops(op_type: str, out: Sequence[int], ins: List) -> Optional[float]:
    """2 · output elements · window size (each output channel sees one input channel)."""
    if op_type.endswith("BackpropFilter"):
        grad = ins[2] if len(ins) > 2 else None
        return None if grad is None else 2.0 * elements(grad) * elements(out[:-2])
    filt = ins[1] if len(ins) > 1 else None
    if filt is None:
        return None
    grad = ins[2] if op_type.endswith("BackpropInput") and len(ins) > 2 else out
    return None if grad is None else 2.0 * elements(grad) * elements(filt[:-2])


def einsum_flops(equation: str, ins: List, out: Sequence[int]) -> Optional[float]:
    """2 · output elements · sizes of the contracted indices (two operands); one
    operand: a reduction (its elements)."""
    if "->" not in equation or any(s is None for s in ins):
        return None
    lhs, rhs = equation.replace(" ", "").split("->")
    operands = lhs.split(",")
    if len(operands) != len(ins):
        return None
    sizes: Dict[str, int] = {}
    for labels, dims in zip(operands, ins):
        labels = labels.replace("...", "")
        named = dims[len(dims) - len(labels):] if labels else ()
        sizes.update(zip(labels, named))
    contracted = [c for c in sizes if c not in rhs]
    if len(ins) == 1:
        return float(elements(ins[0]))
    return 2.0 * elements(out) * elements([sizes[c] for c in contracted])
