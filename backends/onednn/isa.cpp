#include "isa.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <utility>

namespace mlpk::onednn {
namespace {

// oneDNN 2.6's CPU ISAs by the names its ONEDNN_MAX_CPU_ISA takes (lower case).
constexpr std::pair<dnnl::cpu_isa, const char*> kIsaNames[] = {
    {dnnl::cpu_isa::sse41, "sse41"},
    {dnnl::cpu_isa::avx, "avx"},
    {dnnl::cpu_isa::avx2, "avx2"},
    {dnnl::cpu_isa::avx2_vnni, "avx2_vnni"},
    {dnnl::cpu_isa::avx512_mic, "avx512_mic"},
    {dnnl::cpu_isa::avx512_mic_4ops, "avx512_mic_4ops"},
    {dnnl::cpu_isa::avx512_core, "avx512_core"},
    {dnnl::cpu_isa::avx512_core_vnni, "avx512_core_vnni"},
    {dnnl::cpu_isa::avx512_core_bf16, "avx512_core_bf16"},
    {dnnl::cpu_isa::avx512_core_amx, "avx512_core_amx"},
};

}  // namespace

std::string effective_isa_name() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  for (const auto& [value, name] : kIsaNames)
    if (value == isa) return name;
  return "all (no ISA limit)";
}

bool below_avx512_core() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto core = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & core) != core;
}

}  // namespace mlpk::onednn
