"""Classifier weights written on one device topology load on another (a CPU-made file on a GPU)."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from genjax.metrics import features
from genjax.nn.classifier import ImageClassifier


def test_classifier_written_on_a_device_this_process_lacks_loads_and_computes_the_same(tmp_path):
    # The writer has 8 host devices and puts the params on the last one; this process has 4, so
    # the device recorded in the file does not exist here, as a CPU-written file on a GPU machine.
    path = str(tmp_path / "clf")
    writer = textwrap.dedent(
        f"""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
        os.environ["JAX_PLATFORMS"] = "cpu"
        import jax, numpy as np
        from genjax.metrics import features
        from genjax.nn.classifier import ImageClassifier
        net = ImageClassifier(num_classes=3)
        params = net.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))["params"]
        params = jax.device_put(params, jax.devices()[7])
        features.save_classifier({path!r}, params, num_classes=3, accuracy=0.5, dataset="toy",
                                 image_shape=(8, 8, 1))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", writer], check=True, env=env, timeout=300)

    extractor = features.load_classifier(path)
    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (5, 8, 8, 1), minval=-1, maxval=1))
    net = ImageClassifier(num_classes=3)
    params = net.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))["params"]
    want_logits, want_features = net.apply({"params": params}, x)
    feats, probs = extractor.apply(x)
    np.testing.assert_allclose(probs, jax.nn.softmax(want_logits, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats, want_features, rtol=1e-5, atol=1e-5)
