"""Real models nobody on this project wrote (keras.applications, RNNs, keras_hub backbones,
mixed precision, steps_per_execution, XLA, a GAN, tf_keras...) trained under LayerProfiler:
each window must hold the invariants of a trustworthy attribution (tests/corpus.py)."""

from __future__ import annotations

import pytest

from tests import corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Cases run lazily, once each, in this process (tf_keras ones in a subprocess)."""
    done = {}

    def get(name):
        if name not in done:
            import keras

            keras.backend.clear_session()
            done[name] = corpus.run_case(name, str(tmp_path_factory.mktemp(name)))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(corpus.CASES))
def test_real_model_holds_every_invariant(results, name):
    result = results(name)
    assert corpus.violations(result) == [], corpus.figures(result)


def test_steps_per_execution_reports_per_batch(results):
    window = results("steps_per_execution")["window"]
    assert window["batches_per_step"] == 4
    assert any("per batch" in w for w in window["warnings"])
    by_path = {x["path"]: x for x in window["layers"]}
    # Gradient ops inside the multi-step loop stay gradients; categories stay categories.
    assert by_path["conv2d_1"]["backward_us"] > 0
    assert window["other"]["optimizer_us"] > 0 and window["other"]["loss_us"] > 0


def test_rnn_cells_own_their_gradient_and_are_not_retraced(results):
    window = results("lstm")["window"]
    by_path = {x["path"]: x for x in window["layers"]}
    cell = by_path["lstm/lstm_cell"]
    assert cell["backward_us"] > 0 and cell["calls"] > 0
    assert cell["trace_count"] == 1
    # The LSTM row keeps its loop plumbing, not the cell's matmul gradients.
    assert by_path["lstm"]["backward_us"] - cell["backward_us"] < by_path["lstm"]["backward_us"]


def test_py_function_layer_keeps_its_hint_beside_an_lstm(results):
    window = results("planted_py_function_rnn")["window"]
    layer = next(x for x in window["layers"] if x["path"].endswith("planted_py_function"))
    assert "host-round-trip" in {h["code"] for h in layer["hints"]}
    assert layer["calls"] > 0 and layer["op_types"]


def test_fit_twice_with_validation_is_not_a_retrace(results):
    window = results("fit_twice_validation")["window"]
    assert all(x["trace_count"] <= 2 for x in window["layers"]), \
        {x["path"]: x["trace_count"] for x in window["layers"]}


def test_xla_instructions_without_op_name_are_owned(results):
    window = results("xla_cnn")["window"]
    assert window["mode"] == "xla"
    assert window["coverage"] >= 0.95, window["unowned_ops"]
    pool = next(x for x in window["layers"] if x["path"] == "max_pooling2d")
    assert pool["backward_us"] > 0  # XLA's max-pool gradient (a reduce-window) has no op_name


def test_embedding_gradient_is_the_sparse_sum(results):
    window = results("transformer")["window"]
    emb = next(x for x in window["layers"] if x["path"].endswith("/embedding"))
    assert emb["backward_us"] > 0
    assert any(op["type"] == "UnsortedSegmentSum" for op in emb["top_ops"])
