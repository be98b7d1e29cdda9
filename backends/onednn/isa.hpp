// The instruction set oneDNN's JIT kernels run on, by name (the backend's description shows it;
// ONEDNN_MAX_CPU_ISA lowers it).
#pragma once

#include <string>

namespace mlpk::onednn {

// dnnl::get_effective_cpu_isa() by name, e.g. "avx2" or "avx512_core".
std::string effective_isa_name();

// Whether oneDNN's f32 products run below avx512_core (its AVX2 or older sgemm kernels).
bool below_avx512_core();

}  // namespace mlpk::onednn
