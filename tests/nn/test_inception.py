"""FID Inception-v3: architecture against an independent PyTorch build of pytorch-fid's network,
the weight converter, the resize, and the errors for missing or mismatched weight files."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn as tnn

from experiments.tools import convert_inception
from genjax.metrics import features
from genjax.nn import inception

# --- a PyTorch reference written from torchvision's Inception3 with pytorch-fid's three patches ---


class _Conv(tnn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _tf_avg(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _A(tnn.Module):
    def __init__(self, cin, pool):
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, kernel_size=1)
        self.branch5x5_1, self.branch5x5_2 = (
            _Conv(cin, 48, kernel_size=1),
            _Conv(48, 64, kernel_size=5, padding=2),
        )
        self.branch3x3dbl_1 = _Conv(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _Conv(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _Conv(cin, pool, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                b3,
                self.branch_pool(_tf_avg(x)),
            ],
            1,
        )


class _B(tnn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _Conv(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), bd, F.max_pool2d(x, 3, stride=2)], 1)


class _C(tnn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        h, v = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = _Conv(cin, 192, kernel_size=1)
        self.branch7x7_1, self.branch7x7_2, self.branch7x7_3 = (
            _Conv(cin, c7, kernel_size=1),
            _Conv(c7, c7, **h),
            _Conv(c7, 192, **v),
        )
        self.branch7x7dbl_1, self.branch7x7dbl_2 = _Conv(cin, c7, kernel_size=1), _Conv(c7, c7, **v)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = _Conv(c7, c7, **h), _Conv(c7, c7, **v)
        self.branch7x7dbl_5 = _Conv(c7, 192, **h)
        self.branch_pool = _Conv(cin, 192, kernel_size=1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_tf_avg(x))], 1)


class _D(tnn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = (
            _Conv(cin, 192, kernel_size=1),
            _Conv(192, 320, kernel_size=3, stride=2),
        )
        self.branch7x7x3_1 = _Conv(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = _Conv(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1
        )


class _E(tnn.Module):
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        h, v = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
        self.branch1x1 = _Conv(cin, 320, kernel_size=1)
        self.branch3x3_1, self.branch3x3_2a, self.branch3x3_2b = (
            _Conv(cin, 384, kernel_size=1),
            _Conv(384, 384, **h),
            _Conv(384, 384, **v),
        )
        self.branch3x3dbl_1 = _Conv(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = _Conv(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a, self.branch3x3dbl_3b = _Conv(384, 384, **h), _Conv(384, 384, **v)
        self.branch_pool = _Conv(cin, 192, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _tf_avg(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(bd),
                self.branch3x3dbl_3b(bd),
                self.branch_pool(pooled),
            ],
            1,
        )


class _TorchFIDInception(tnn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, kernel_size=3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _A(192, 32), _A(256, 64), _A(288, 64)
        self.Mixed_6a = _B(288)
        self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = (
            _C(768, 128),
            _C(768, 160),
            _C(768, 160),
            _C(768, 192),
        )
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = _D(768), _E(1280, False), _E(2048, True)
        self.fc = tnn.Linear(2048, 1008)

    def forward(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for name in [
            "Mixed_5b",
            "Mixed_5c",
            "Mixed_5d",
            "Mixed_6a",
            "Mixed_6b",
            "Mixed_6c",
            "Mixed_6d",
            "Mixed_6e",
            "Mixed_7a",
            "Mixed_7b",
            "Mixed_7c",
        ]:
            x = getattr(self, name)(x)
        pooled = x.mean((2, 3))
        return self.fc(pooled), pooled


def _torch_reference(x_nchw):
    torch.manual_seed(0)
    net = _TorchFIDInception()
    # Running statistics from one pass over the input keep activations O(1) through 94 layers.
    for m in net.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    # oneDNN's first-call kernel set-up costs seconds on a small CPU; the plain kernels are enough.
    mkldnn, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False
    try:
        with torch.no_grad():
            net.train()(x_nchw)
            net.eval()
            logits, pooled = net(x_nchw)
    finally:
        torch.backends.mkldnn.enabled = mkldnn
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    return state, logits.numpy(), pooled.numpy()


def test_parameter_count_equals_torchvisions_inception_without_aux_head_and_1008_classes():
    variables = jax.eval_shape(
        inception.InceptionV3(resize_input=False).init,
        jax.random.PRNGKey(0),
        jnp.zeros((1, 75, 75, 3)),
    )
    count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))
    # torchvision's 27,161,264 minus the aux head (3,326,696) plus 8 extra classes (8 * 2049).
    assert count == 27_161_264 - 3_326_696 + 8 * 2049


@pytest.mark.parametrize("side, resize", [(75, False), (80, False), (8, True)])
def test_output_shapes(side, resize):
    net = inception.InceptionV3(resize_input=resize)
    x = jnp.zeros((2, side, side, 1))
    variables = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
    logits, feats = jax.eval_shape(net.apply, variables, x)
    chex.assert_shape(logits, (2, inception.NUM_LOGITS))
    chex.assert_shape(feats, (2, inception.NUM_FEATURES))


def test_too_small_input_without_resize_is_a_clear_error():
    with pytest.raises(ValueError, match="sides >= 75"):
        jax.eval_shape(
            inception.InceptionV3(resize_input=False).init,
            jax.random.PRNGKey(0),
            jnp.zeros((1, 64, 64, 3)),
        )


def test_converted_torch_weights_reproduce_the_torch_network(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 75, 75, 3)).astype(np.float32)
    state, want_logits, want_feats = _torch_reference(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    path = str(tmp_path / "inception.npz")
    np.savez(path, **convert_inception.convert_state_dict(state))
    variables = inception.load_inception_variables(path)
    logits, feats = jax.jit(inception.InceptionV3(resize_input=False).apply)(variables, x)
    scale = np.abs(want_feats).max()
    assert scale > 1e-2  # a dead network would compare trivially
    np.testing.assert_allclose(feats, want_feats, atol=1e-4 * scale, rtol=1e-3)
    np.testing.assert_allclose(
        logits, want_logits, atol=1e-3 * np.abs(want_logits).max(), rtol=1e-3
    )


@pytest.mark.parametrize("side", [8, 37, 512])
def test_resize_matches_pytorch_fids_interpolate(side):
    x = np.random.default_rng(side).normal(size=(2, side, side, 3)).astype(np.float32)
    want = (
        F.interpolate(
            torch.from_numpy(x.transpose(0, 3, 1, 2)),
            size=(299, 299),
            mode="bilinear",
            align_corners=False,
        )
        .numpy()
        .transpose(0, 2, 3, 1)
    )
    # float32 on inputs up to ~5 in size: the CPU matches to 1e-5; an H100 differed by 2e-5.
    np.testing.assert_allclose(inception.resize_bilinear(jnp.asarray(x), 299), want, atol=3e-5)


def test_missing_weights_file_names_the_file_and_how_to_make_it(tmp_path):
    path = str(tmp_path / "inception_fid.npz")
    with pytest.raises(
        FileNotFoundError, match=r"inception_fid\.npz.*pt_inception-2015-12-05.*convert_inception"
    ):
        inception.load_inception_variables(path)
    with pytest.raises(FileNotFoundError, match="convert_inception"):
        features.inception_features(path)


def test_mismatched_weights_file_names_the_differences(tmp_path):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **{"params/fc/kernel": np.zeros((10, 10), np.float32)})
    with pytest.raises(ValueError, match=r"missing .*wrong shapes .*params/fc/kernel"):
        inception.load_inception_variables(path)


def test_converter_rejects_unknown_keys():
    with pytest.raises(ValueError, match="AuxLogits"):
        convert_inception.convert_state_dict({"AuxLogits.fc.weight": np.zeros((2, 2))})
