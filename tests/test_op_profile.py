"""experiments.benchmarks.op_profile: how an executed instruction of XLA's optimized HLO is grouped."""

from experiments.benchmarks import op_profile

# A hand-trimmed excerpt of the DCGAN train step's optimized HLO (jaxlib 0.10, XLA:CPU): a BatchNorm,
# ReLU and pad that XLA fused into the transpose of the next kernel gradient's input, the same ops
# unfused, and the kernel gradient that reads the transposed copy.
HLO = """
%fused_transpose (param_0: f32[128,14,14,64], param_1: f32[64]) -> f32[64,16,16,128] {
  %param_0 = f32[128,14,14,64]{3,2,1,0} parameter(0)
  %param_1 = f32[64]{0} parameter(1)
  %mul.1 = f32[128,14,14,64]{3,2,1,0} broadcast(%param_1), dimensions={3}, metadata={op_name="jit(step)/jvp(DCGANGenerator)/norm_1/mul"}
  %mul.0 = f32[128,14,14,64]{3,2,1,0} multiply(%param_0, %mul.1), metadata={op_name="jit(step)/jvp(DCGANGenerator)/norm_1/mul"}
  %constant.0 = f32[] constant(0)
  %pad.0 = f32[128,16,16,64]{3,2,1,0} pad(%mul.0, %constant.0), padding=0_0x1_1x1_1x0_0, metadata={op_name="jit(step)/jvp(DCGANGenerator)/up_1/pad"}
  %transpose.0 = f32[64,16,16,128]{0,2,1,3} transpose(%pad.0), dimensions={3,1,2,0}, metadata={op_name="jit(step)/jvp(DCGANGenerator)/up_1/transpose"}
  ROOT %copy.0 = f32[64,16,16,128]{3,2,1,0} copy(%transpose.0), metadata={op_name="jit(step)/jvp(DCGANGenerator)/up_1/transpose"}
}

%fused_norm (param_0.1: f32[128,14,14,64], param_1.1: f32[64]) -> f32[128,14,14,64] {
  %param_0.1 = f32[128,14,14,64]{3,2,1,0} parameter(0)
  %param_1.1 = f32[64]{0} parameter(1)
  %mul.3 = f32[128,14,14,64]{3,2,1,0} broadcast(%param_1.1), dimensions={3}, metadata={op_name="jit(step)/jvp(DCGANGenerator)/norm_1/mul"}
  ROOT %mul.2 = f32[128,14,14,64]{3,2,1,0} multiply(%param_0.1, %mul.3), metadata={op_name="jit(step)/jvp(DCGANGenerator)/norm_1/mul"}
}

ENTRY %main (x: f32[128,14,14,64], s: f32[64], g: f32[15,15,128,4]) -> f32[64,2,2,4] {
  %x = f32[128,14,14,64]{3,2,1,0} parameter(0)
  %s = f32[64]{0} parameter(1)
  %g = f32[15,15,128,4]{3,2,1,0} parameter(2)
  %transpose_copy_fusion.1 = f32[64,16,16,128]{3,2,1,0} fusion(%x, %s), kind=kLoop, calls=%fused_transpose, metadata={op_name="jit(step)/jvp(DCGANGenerator)/up_1/transpose"}
  %multiply_fusion = f32[128,14,14,64]{3,2,1,0} fusion(%x, %s), kind=kLoop, calls=%fused_norm, metadata={op_name="jit(step)/jvp(DCGANGenerator)/norm_1/mul"}
  ROOT %conv_general_dilated.44 = f32[64,2,2,4]{3,2,1,0} convolution(%transpose_copy_fusion.1, %g), window={size=15x15}, dim_labels=b01f_01io->b01f, metadata={op_name="jit(step)/transpose(jvp(DCGANGenerator))/up_1/conv_general_dilated"}
}
"""


def _group(name):
    module = op_profile.parse_hlo_module(HLO)
    return op_profile.classify_instruction(module["main"][name], module)


def test_a_normalization_fused_into_a_convolution_layout_transpose_counts_as_layout_movement():
    assert _group("transpose_copy_fusion.1") == "data movement: convolution layouts"
    assert _group("multiply_fusion") == "normalization"


def test_a_full_image_window_is_a_kernel_gradient():
    assert _group("conv_general_dilated.44") == "convolution kernel gradient"
