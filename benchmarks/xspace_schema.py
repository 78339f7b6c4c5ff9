"""A parsed, editable XSpace for the GPU check's capture layout dump and trimming: the
schema (tsl's public `xplane.proto` field numbers) declared as a FileDescriptorProto and
turned into message classes by the protobuf runtime, so it runs without TensorFlow.

Only this benchmark parses whole captures; tb_layerprof reads them at the wire level
(`tb_layerprof.xplane`).
"""

from __future__ import annotations

import functools

METADATA_PLANE = "/host:metadata"


@functools.lru_cache(maxsize=None)
def _classes():
    """Message classes for XSpace and friends, built once from the schema below."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    i64, u64, dbl, st, by, msg = F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_DOUBLE, F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE
    pkg = "tb_layerprof_jax.xplane"
    schema = {
        # message: [(name, number, label, type, message type name, oneof index)]
        "XSpace": [("planes", 1, rep, msg, "XPlane", None), ("hostnames", 4, rep, st, None, None)],
        "XPlane": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                   ("lines", 3, rep, msg, "XLine", None),
                   ("event_metadata", 4, rep, msg, "XPlane.EventMetadataEntry", None),
                   ("stat_metadata", 5, rep, msg, "XPlane.StatMetadataEntry", None),
                   ("stats", 6, rep, msg, "XStat", None)],
        "XLine": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                  ("timestamp_ns", 3, opt, i64, None, None), ("events", 4, rep, msg, "XEvent", None)],
        "XEvent": [("metadata_id", 1, opt, i64, None, None), ("offset_ps", 2, opt, i64, None, 0),
                   ("duration_ps", 3, opt, i64, None, None), ("stats", 4, rep, msg, "XStat", None),
                   ("num_occurrences", 5, opt, i64, None, 0)],
        "XStat": [("metadata_id", 1, opt, i64, None, None), ("double_value", 2, opt, dbl, None, 0),
                  ("uint64_value", 3, opt, u64, None, 0), ("int64_value", 4, opt, i64, None, 0),
                  ("str_value", 5, opt, st, None, 0), ("bytes_value", 6, opt, by, None, 0),
                  ("ref_value", 7, opt, u64, None, 0)],
        "XEventMetadata": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                           ("stats", 5, rep, msg, "XStat", None)],
        "XStatMetadata": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None)],
    }
    oneofs = {"XEvent": "data", "XStat": "value"}
    fdp = descriptor_pb2.FileDescriptorProto(name="tb_layerprof_jax_xplane.proto", package=pkg,
                                             syntax="proto3")
    for name, flds in schema.items():
        m = fdp.message_type.add(name=name)
        if name in oneofs:
            m.oneof_decl.add(name=oneofs[name])
        for fname, number, label, ftype, tname, oneof in flds:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                f.type_name = f".{pkg}.{tname}"
            if oneof is not None:
                f.oneof_index = oneof
        if name == "XPlane":  # map<int64, XEventMetadata>, map<int64, XStatMetadata>
            for entry, value in (("EventMetadataEntry", "XEventMetadata"), ("StatMetadataEntry", "XStatMetadata")):
                e = m.nested_type.add(name=entry)
                e.options.map_entry = True
                e.field.add(name="key", number=1, label=opt, type=i64)
                e.field.add(name="value", number=2, label=opt, type=msg, type_name=f".{pkg}.{value}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{pkg}.XSpace"))


def load(path: str):
    """The parsed XSpace of `path` (ValueError with a clear message)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read profile {path}: {e.strerror or e}") from None
    if not data:
        raise ValueError(f"profile {path} is empty")
    space = _classes()()
    try:
        space.ParseFromString(data)
    except Exception as e:
        raise ValueError(f"profile {path} is not a valid XSpace: {e}") from None
    if not space.planes:
        raise ValueError(f"profile {path} holds no planes")
    return space
