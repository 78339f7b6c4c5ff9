"""tf.distribute: MirroredStrategy on two logical CPUs, attributed across replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tb_layerprof.report import WindowReport

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def mirrored_window(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("mirrored"))
    out = subprocess.run([sys.executable, os.path.join(HERE, "mirrored_fit.py"), logdir],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return WindowReport.from_json(json.loads(out.stdout.strip().splitlines()[-1]))


def test_every_replicas_ops_are_attributed(mirrored_window):
    layers = {l.path: l for l in mirrored_window.layers}
    slow = layers["slow"]
    assert slow.calls == 2  # one call per replica per step
    replicas = {r["replica"]: r for r in slow.replicas}
    assert set(replicas) == {0, 1}
    for r in replicas.values():
        assert r["self_forward_us"] > 0 and r["self_backward_us"] > 0, slow.replicas
    total = sum(r["self_forward_us"] + r["self_backward_us"] for r in replicas.values())
    assert total == pytest.approx(slow.self_forward_us + slow.self_backward_us, rel=1e-3)
    assert "python-loop" in {h.code for h in slow.hints}


def test_collectives_have_their_own_category(mirrored_window):
    other = mirrored_window.other
    assert other["collective_us"] > 0
    assert other["unattributed_us"] < 0.03 * mirrored_window.op_time_us, other
    total = sum(l.self_forward_us + l.self_backward_us for l in mirrored_window.layers)
    assert total + sum(other.values()) == pytest.approx(mirrored_window.op_time_us, rel=1e-6)
