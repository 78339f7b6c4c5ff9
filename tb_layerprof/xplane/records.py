"""The plain records of one capture (`ProfileEvents`): named tuples, no protos.

Records are NamedTuples whose field order is the historical positional layout, so code
that indexes them (`op[4]`) and code that names fields (`op.name`) both work, and a record
still compares equal to the plain tuple with the same values.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, NamedTuple, Sequence, Set, Tuple


class ProfileError(Exception):
    """A profile file that is missing, truncated or not an XSpace."""


class Op(NamedTuple):
    """A host op event (graph op TraceMe or eager op). Times in ps since the epoch."""

    line: int  # the XLine id it ran on (a host thread)
    start_ps: int
    end_ps: int
    self_ps: int  # duration minus the ops nested directly inside it on the same line
    name: str  # TF op name ("model/dense/MatMul"), "eager/<Type>", or an HLO name
    type: str  # TF op type ("MatMul"), "" when unknown


class Step(NamedTuple):
    """One `train` step marker."""

    step: int
    start_ps: int
    end_ps: int


class Memory(NamedTuple):
    """One allocator event."""

    time_ps: int
    sign: int  # +1 allocation, -1 deallocation
    bytes: int
    address: int
    tf_op: str  # the op the allocation was made for, "" when the event names none
    allocator: str


class Span(NamedTuple):
    """An eager layer span, gradient marker or category span written by the instrumenter."""

    line: int
    start_ps: int
    end_ps: int
    key: str  # layer path or category key
    kind: str  # "forward" / "grad_begin" / "grad_end" / "category"


class DeviceOp(NamedTuple):
    """A GPU kernel or copy. Names are TF op names (from `tf_op` or the HLO metadata)."""

    device: str  # the plane, "/device:GPU:N"
    line: int
    start_ps: int
    end_ps: int
    self_ps: int
    name: str
    type: str
    correlation: int  # the launch's correlation id, 0 when unknown


class XlaSplit(NamedTuple):
    """An XLA fusion made of several TF ops, and its time (split between them)."""

    op_names: Tuple[str, ...]
    self_ps: int


class HloSource(NamedTuple):
    """A TF op an HLO instruction was lowered from, and its share of the instruction."""

    name: str
    type: str
    share: float


@dataclasses.dataclass
class ProfileEvents:
    """Plain records of one capture. Times are picoseconds since the epoch."""

    host: str = ""
    ops: Sequence[Op] = dataclasses.field(default_factory=list)  # an OpTable once read
    steps: List[Step] = dataclasses.field(default_factory=list)
    memory: Sequence[Memory] = dataclasses.field(default_factory=list)  # a MemoryTable once read
    spans: List[Span] = dataclasses.field(default_factory=list)
    event_count: int = 0
    # Host line keys of tf.data's threads (their ops are input pipeline work).
    input_lines: Set[int] = dataclasses.field(default_factory=set)
    device_ops: List[DeviceOp] = dataclasses.field(default_factory=list)
    # Host-side kernel launches: correlation id -> launch time (ps), to place kernels in steps.
    launches: Dict[int, int] = dataclasses.field(default_factory=dict)
    xla_splits: List[XlaSplit] = dataclasses.field(default_factory=list)
    # (program_id, HLO instruction) -> its TF op sources, from /host:metadata.
    hlo_ops: Dict[Tuple[int, str], List[HloSource]] = dataclasses.field(default_factory=dict)
    # XLA windows: each program's work per TF op (`xla_work.program_work`), set by the
    # analysis for attribution to book; empty otherwise.
    xla_programs: Dict = dataclasses.field(default_factory=dict)


class XlaOp(NamedTuple):
    """One execution of one HLO instruction: an XLA CPU thunk or a GPU kernel/copy."""

    line: str  # "<plane>/<line id>"
    start_ps: int
    end_ps: int
    self_ps: int  # minus the thunks nested directly inside it on its line (a while, a call)
    program_id: int
    hlo_op: str  # the instruction; a GPU event without an `hlo_op` stat: its event name
    module: str  # the `hlo_module` stat
    run_id: int
    device: bool = False


@dataclasses.dataclass
class XlaEvents:
    """What a capture of XLA programs holds (`xplane.read_xla`); times in ps since the epoch."""

    host: str = ""
    steps: List[Step] = dataclasses.field(default_factory=list)
    thunks: List[XlaOp] = dataclasses.field(default_factory=list)
    # program id -> (module name, serialized HloProto), from /host:metadata.
    programs: Dict[int, Tuple[str, bytes]] = dataclasses.field(default_factory=dict)
    event_count: int = 0
    device_planes: List[str] = dataclasses.field(default_factory=list)
    # The GPU planes' memory stats ("<plane>:memory_bandwidth", ...), where the capture has them.
    memory: Dict[str, float] = dataclasses.field(default_factory=dict)
