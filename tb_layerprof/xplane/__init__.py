"""The only package that reads XSpace protos: a `.xplane.pb` in, plain records out.

    records.py   ProfileEvents and its named records (Op, Memory, Step, Span, DeviceOp, ...)
    wire.py      protobuf wire-format walking of the file: varints, planes, lines, metadata
    columns.py   numpy decoding of many XEvent records at once into columns
    kinds.py     what an event's name means (op, step, allocation, eager span, ...)
    assemble.py  decoded columns of one line -> records (self time, allocations, kernels)
    hlo.py       XLA's HLO protos (wire level) -> the TF ops each instruction came from
    read.py      read_profile: the file -> ProfileEvents
    xla.py       read_xla: the file -> XlaEvents (XLA thunks/kernels, steps, HLO programs; JAX)
    write.py     add_line: an extra line of events written into a capture

Marker names (TAPE_SPAN, ...) live in tb_layerprof.layermap and are re-exported here for
the modules that read them from the reader's side.
"""

from tb_layerprof.layermap import (  # noqa: F401
    EAGER_CATEGORY_PREFIX,
    EAGER_GRAD_BEGIN,
    EAGER_GRAD_END,
    EAGER_SPAN_PREFIX,
    STEP_EVENT_NAME,
    TAPE_SPAN,
)
from tb_layerprof.xplane.hlo import XLA_UNMAPPED_TYPE, HloModule, hlo_index, parse_module  # noqa: F401
from tb_layerprof.xplane.read import host_from_path, read_profile  # noqa: F401
from tb_layerprof.xplane.records import (  # noqa: F401
    DeviceOp,
    HloSource,
    Memory,
    Op,
    ProfileError,
    ProfileEvents,
    Span,
    Step,
    XlaEvents,
    XlaOp,
    XlaSplit,
)
from tb_layerprof.xplane.wire import GPU_PLANE_PREFIX, HOST_PLANE, METADATA_PLANE  # noqa: F401
from tb_layerprof.xplane.write import add_line  # noqa: F401
from tb_layerprof.xplane.xla import read_xla  # noqa: F401
