"""Trains the seed model under MirroredStrategy on two logical CPUs; prints the report.

Run as a subprocess by tests/test_distribute.py: logical devices must be configured
before TensorFlow initializes, which a pytest process has long done.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tb_layerprof  # noqa: E402,F401  (before TF creates devices: memory events)
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tb_layerprof import LayerProfiler  # noqa: E402
from tests import models  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = models.seed_model(features=32)
x, y = models.data(n=1024, features=32)
cb = LayerProfiler(log_dir=sys.argv[1], profile_batch=(3, 5), verbose=0)
model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[cb])
print(json.dumps(cb.reports[-1].to_json()))
