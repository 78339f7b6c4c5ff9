"""GPU planes and XLA programs, from hand-built XSpaces that follow TensorFlow's schema.

This machine has no GPU, so these captures are built by hand, with the plane, line and
stat names TensorFlow's CUPTI tracer and XLA's metadata collector write (see
docs/how-it-works.md): kernels on "/device:GPU:0" lines "Stream #N(Compute)" carrying
`correlation_id`, `kernel_details` and `tf_op` ("name:Type") or, for XLA, `hlo_op` and
`program_id`; HLO protos in "/host:metadata"; the GPU allocator's events on the host
plane with `allocator_name` "GPU_0_bfc". XProf's own converter must accept them too.
"""

from __future__ import annotations


import pytest

from tb_layerprof import attribution, xplane
from tb_layerprof.layermap import CallRecord, LayerInfo, LayerMap
from tests import xplane_reference
from tests.xspace_builder import XSpaceBuilder, add_hlo_module, set_plane_stats

US = 1_000_000
KERNEL = "regs:64 static_shared:0 dynamic_shared:0 grid:8,4,1 block:128,1,1 occ_pct:50"

GRAPH = [
    ("m/dense_1/MatMul", "MatMul", []),
    ("m/act_1/Relu", "Relu", ["m/dense_1/MatMul"]),
    ("m/head_1/MatMul", "MatMul", ["m/act_1/Relu"]),
    ("gradient_tape/m/head_1/MatMul/MatMul", "MatMul", []),
    ("gradient_tape/m/act_1/ReluGrad", "ReluGrad", ["gradient_tape/m/head_1/MatMul/MatMul"]),
    ("gradient_tape/m/dense_1/MatMul/MatMul_1", "MatMul", ["gradient_tape/m/act_1/ReluGrad"]),
]


def layer_map() -> LayerMap:
    lm = LayerMap(model_name="m")
    for path in ("dense", "act", "head"):
        lm.layers[path] = LayerInfo(path, "Dense" if path != "act" else "ReLU")
    for path, a in (("dense", 0), ("act", 1), ("head", 2)):
        lm.calls.append(CallRecord(path, 1, f"m/{path}_1", a, a + 1))
    return lm


def build(tmp_path) -> str:
    b = XSpaceBuilder(host="gpuhost")
    host = b.plane("/host:CPU")
    py = host.line("python")
    gpu = b.plane("/device:GPU:0")
    set_plane_stats(gpu, device_vendor="Nvidia", clock_rate=1410000, core_count=108,
                    compute_cap_major=8, compute_cap_minor=0, memory_size=40 << 30)
    stream = gpu.line("Stream #7(Compute)")
    corr = 100
    for i, step in enumerate((5, 6)):
        t0 = i * 1000 * US
        py.event("train", t0, 1000 * US, step_num=step, _r=1)
        # Non-XLA ops: host op events launch kernels; kernels run later on the stream.
        for j, (name, op_type, host_us, kernel_us) in enumerate([
            ("m/dense_1/MatMul", "MatMul", 10, 100),
            ("gradient_tape/m/dense_1/MatMul/MatMul_1", "MatMul", 10, 200),
        ]):
            t = t0 + (50 + 300 * j) * US
            py.op(name, op_type, t, host_us * US)
            py.event("cuLaunchKernel", t + 2 * US, 5 * US, correlation_id=corr, device_id=0)
            stream.event("volta_sgemm_128x64_nn", t + 20 * US, kernel_us * US, correlation_id=corr,
                         context_id="$$1", kernel_details=KERNEL, tf_op=f"{name}:{op_type}")
            corr += 1
        # One XLA cluster: its kernels name HLO instructions, not TF ops.
        t = t0 + 700 * US
        py.event("a_inference_cluster:_XlaRun", t, 20 * US)
        for k, (hlo, kernel_us) in enumerate([("fusion.1", 40), ("dot.2", 30)]):
            py.event("cuLaunchKernel", t + (1 + k) * US, 1 * US, correlation_id=corr, device_id=0)
            # The second XLA kernel of the last step runs after the step ended: it still
            # belongs to that step, by its launch.
            start = t + (30 + 40 * k) * US + (250 * US if (i == 1 and k == 1) else 0)
            stream.event(f"loop_{hlo}", start, kernel_us * US, correlation_id=corr, context_id="$$1",
                         kernel_details=KERNEL, tf_op="a_inference_cluster:_XlaRun",
                         hlo_op=hlo, hlo_module="cluster_0", program_id=7)
            corr += 1
        # GPU memory (and a CPU allocation that must not count on a GPU run).
        py.alloc("m/dense_1/MatMul", 1 << 20, 1000 + i, t0 + 60 * US, allocator_name="GPU_0_bfc")
        py.alloc("gradient_tape/m/head_1/MatMul/MatMul", 3 << 20, 2000 + i, t0 + 400 * US,
                 allocator_name="GPU_0_bfc")
        py.free("gradient_tape/m/head_1/MatMul/MatMul", 3 << 20, 2000 + i, t0 + 500 * US,
                allocator_name="GPU_0_bfc")
        py.free("m/dense_1/MatMul", 1 << 20, 1000 + i, t0 + 900 * US, allocator_name="GPU_0_bfc")
        py.alloc("m/head_1/MatMul", 64 << 20, 3000 + i, t0 + 410 * US,
                 allocator_name="bfc_cpu_allocator_for_gpu")
    # A kernel launched outside the profiled steps is not counted.
    py.event("cuLaunchKernel", 5000 * US, 1 * US, correlation_id=999, device_id=0)
    stream.event("volta_sgemm_128x64_nn", 5010 * US, 777 * US, correlation_id=999, context_id="$$1",
                 kernel_details=KERNEL, tf_op="m/dense_1/MatMul:MatMul")
    add_hlo_module(
        b.space, 7, "cluster_0",
        [("fusion.1", "fusion", "m/act_1/Relu", "Relu"),
         ("dot.2", "dot", "m/head_1/MatMul", "MatMul")],
        fusions={"fusion.1": [("p0", "parameter", "", ""),
                              ("max.1", "maximum", "m/act_1/Relu", "Relu"),
                              ("mul.1", "multiply", "gradient_tape/m/head_1/MatMul/MatMul", "MatMul"),
                              ("add.1", "add", "gradient_tape/m/head_1/MatMul/MatMul", "MatMul"),
                              ("sub.1", "subtract", "m/act_1/Relu", "Relu")]},
    )
    # Lines are read in order; XProf wants events sorted within a line.
    for plane in b.space.planes:
        for line in plane.lines:
            line.events.sort(key=lambda e: e.offset_ps)
    return b.write(str(tmp_path / "gpuhost.xplane.pb"))


@pytest.fixture
def capture(tmp_path):
    return build(tmp_path)


@pytest.fixture
def window(capture):
    return attribution.attribute(xplane.read_profile(capture), layer_map(), {1: GRAPH})


def by_path(window):
    return {layer.path: layer for layer in window.layers}


def test_wire_and_reference_readers_agree_on_device_planes(capture):
    streamed = xplane.read_profile(capture)
    parsed = xplane_reference.extract_events(xplane_reference.load_xspace(capture), host="gpuhost")
    assert streamed.device_ops == parsed.device_ops
    assert streamed.launches == parsed.launches
    assert len(streamed.device_ops) == 2 * 4 + 1 + 2  # kernels, the outsider, XLA split parts
    assert streamed.hlo_ops[(7, "dot.2")] == [("m/head_1/MatMul", "MatMul", 1.0)]


def test_kernel_time_is_device_time_kept_apart_from_host_time(window):
    assert window.clock == "device"
    dense = by_path(window)["dense"]
    assert dense.forward_device_us == pytest.approx(100)
    assert dense.backward_device_us == pytest.approx(200)
    assert dense.forward_host_us == pytest.approx(10)
    assert dense.backward_host_us == pytest.approx(10)
    # On a GPU run the headline figures are the kernels'.
    assert dense.forward_us == pytest.approx(100) and dense.backward_us == pytest.approx(200)
    assert window.device_op_time_us == pytest.approx(100 + 200 + 40 + 30)


def test_xla_kernels_follow_hlo_metadata_and_fusions_are_split_by_share(window):
    layers = by_path(window)
    # fusion.1 (40 µs): 2 of 4 fused instructions from act's Relu, 2 from head's gradient.
    assert layers["act"].forward_device_us == pytest.approx(20)
    assert layers["head"].backward_device_us == pytest.approx(20)
    # dot.2 (30 µs) is head's forward; the last step's copy ran after the step ended.
    assert layers["head"].forward_device_us == pytest.approx(30)
    assert window.xla_split_us == pytest.approx(40)
    assert any("XLA fused" in w for w in window.warnings)
    assert window.other["unattributed_us"] == pytest.approx(0)


def test_gpu_memory_comes_from_the_gpu_allocator_only(window):
    assert window.memory_allocators == ["GPU_0_bfc"]
    layers = by_path(window)
    assert layers["dense"].forward_alloc_bytes == 1 << 20
    assert layers["head"].backward_alloc_bytes == 3 << 20
    assert layers["head"].forward_alloc_bytes == 0  # its 64 MiB were host memory
    assert layers["dense"].peak_live_bytes == 1 << 20
    assert layers["head"].peak_live_bytes == 3 << 20


def test_self_figures_and_other_sum_to_device_op_time(window):
    total = sum(l.self_forward_us + l.self_backward_us for l in window.layers) + sum(window.other.values())
    assert total == pytest.approx(window.op_time_us)


def test_xprof_accepts_the_fixture(capture, tmp_path):
    """The fixture is real enough for XProf: its kernel stats and op stats see our kernels."""
    from xprof.convert import raw_to_tool_data

    data, _ = raw_to_tool_data.xspace_to_tool_data([capture], "kernel_stats", {"use_saved_result": False})
    text = data.decode() if isinstance(data, bytes) else data
    assert "volta_sgemm_128x64_nn" in text and "loop_dot.2" in text
    data, _ = raw_to_tool_data.xspace_to_tool_data([capture], "framework_op_stats", {"use_saved_result": False})
    text = data.decode() if isinstance(data, bytes) else data
    assert "m/dense_1/MatMul" in text and "Device" in text
    assert "m/head_1/MatMul" in text  # XLA kernels mapped through our HLO proto, by XProf too


def test_keras_layers_line_on_host_and_device_planes(capture):
    from tb_layerprof import tracelayer

    window, spans, _ = attribution.attribute_window(xplane.read_profile(capture), layer_map(), {1: GRAPH})
    lines = tracelayer.lines_by_plane(spans, window)
    assert set(lines) == {"/host:CPU", "/device:GPU:0"}
    device = {(e.name, e.stats["step_num"]): e for e in lines["/device:GPU:0"]}
    # The late XLA kernel of step 6 extends head's device span beyond the host step.
    late = device[("head (forward)", 6)]
    assert late.start_ps + late.duration_ps > 2000 * US
    for plane, events in lines.items():
        assert xplane.add_line(capture, tracelayer.LINE_NAME, events, plane_names=[plane]) == 1
    space = xplane_reference.load_xspace(capture)
    named = {p.name: [l for l in p.lines if l.name == tracelayer.LINE_NAME] for p in space.planes}
    assert len(named["/host:CPU"]) == 1 and len(named["/device:GPU:0"]) == 1
    # Our line is not read back as kernels or ops.
    again = xplane.read_profile(capture)
    assert again.device_ops == xplane_reference.extract_events(xplane_reference.load_xspace(capture)).device_ops
    assert len(again.device_ops) == 11
