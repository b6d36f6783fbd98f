"""Test set-up: 4 host CPU devices so pmap and sharded-jit paths run without accelerators, and
float32 matrix products at full precision, so that a run on a GPU (where JAX's default lets them
use TF32) checks the same tolerances against brute force and closed forms as a run on the CPU.

The settings must be made before jax is imported anywhere, hence module level here.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

import re  # noqa: E402  (after the settings above, which must precede any jax import)

import pytest  # noqa: E402

# The CI budget (docs/development.md, "CI"): the default suite must fit 10 minutes on a 2-core machine
# at half the speed of the fastest one seen, and .ci/run 45. These checks are the heaviest of the
# default suite by the per-test durations of one run (2026-12-08, 2 shared EPYC cores under load,
# seconds as measured there, about 11x the idle machine's); they move to `make test-slow`, which CI
# runs too. Each keeps a cheaper sibling in the default suite where one exists.
MOVED_TO_SLOW = {
    "tests/models/test_flows.py::test_whole_model_round_trip_and_log_det[realnvp3-False]": 640,
    "tests/models/test_gan.py::test_alternating_update_order_through_train_step": 207,
    "tests/training/test_multiprocess.py::test_kill_and_resume_of_two_processes_equals_the_uninterrupted_run": 191,
    "tests/test_studies.py::test_study_runs_on_digits[pixelcnn]": 182,
    "tests/test_bijectors.py::test_forward_and_inverse_helpers_agree": 146,
    "tests/nn/test_unet.py::test_unet_conditioning_and_null_label": 133,
    "tests/test_studies.py::test_study_runs_on_fashion_mnist[rbm]": 121,
    "tests/test_benchmarks.py::test_quick_benchmark_prints_a_json_summary[engine]": 114,
    "tests/models/test_gan.py::test_eight_gaussians_hinge_covers_modes": 114,
    "tests/nn/test_conv_transpose.py::test_module_is_a_drop_in_for_flax": 109,
    "tests/training/test_training.py::test_resume_in_a_fresh_process_equals_an_uninterrupted_run[pmap]": 108,
    "tests/models/test_gan.py::test_frozen_generator_discriminator_separates_real_from_fake": 101,
    "tests/test_benchmarks.py::test_quick_benchmark_prints_a_json_summary[gibbs]": 82,
    "tests/models/test_flows.py::test_nice_at_init_is_the_logistic_prior_on_the_unit_cube": 79,
    "tests/models/test_gan.py::test_spectral_norm_matches_largest_singular_value": 78,
    "tests/nn/test_classifier.py::test_two_convs_per_block_and_max_pooling_match_a_hand_written_forward_pass": 88,
    "tests/samplers/test_autoregressive.py::test_row_windows_give_the_whole_image_samples_and_a_short_window_does_not": 74,
    "tests/models/test_flows.py::test_whole_model_round_trip_and_log_det[realnvp-False]": 309,
    "tests/nn/test_conv_transpose.py::test_gradients_match_lax": 99,
    "tests/models/test_rbm.py::test_model_sample_and_log_prob": 92,
    "tests/nn/test_convolution.py::test_values_and_both_gradients_equal_lax[kernel_size0-strides0-padding0]": 86,
    "tests/models/test_flows.py::test_maximum_likelihood_on_two_moons_beats_a_gaussian": 83,
    "tests/models/test_diffusion.py::test_short_training_on_two_moons_lowers_the_loss_and_beats_noise[edm]": 77,
    "tests/nn/test_group_norm.py::test_half_precision_inputs_are_normalized_in_float32_as_flax_does": 73,
    "tests/models/test_gan.py::test_gradient_penalty_equals_hand_written": 73,
    "tests/models/test_pixelcnn.py::test_windowed_samples_equal_whole_image_samples[gated-logistic_mixture-shape2-2-0]": 73,
    "tests/models/test_pixelcnn.py::test_windowed_samples_equal_whole_image_samples[gated-softmax-shape0-2-0]": 72,
}
# Too long for CI's slow stage; `make test-all` runs them. The notebooks are executed by `make docs`
# in CI all the same (a failing cell fails the build), and the Fashion-MNIST study runs repeat the
# digits runs of the same code on larger images.
MOVED_TO_LONG = re.compile(
    r"tests/test_notebooks\.py::test_notebook_runs\[|tests/test_studies\.py::test_study_runs_slow\[.*-fashion_mnist\]"
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in MOVED_TO_SLOW:
            item.add_marker(pytest.mark.slow)
        if MOVED_TO_LONG.match(item.nodeid):
            item.add_marker(pytest.mark.long)
