// The cost of summing gradients over MPI ranks in a fixed order (mlpk's all_reduce_sum: an
// all-to-all, a sum in rank order, an all-gather) against MPI_Allreduce, whose order MPI does not
// fix, on buffers of the three benchmark networks' parameter counts. Run under mpirun:
//   mpirun -np 2 build/bin/mlpk_bench_allreduce
// (two ranks take MPI_Allreduce, exact there: MLPK_MPI_RANK_ORDER=1 times the all-to-all route)
// Every rank runs the same fixed iteration counts (the ranks meet in every collective); rank 0
// reports. A barrier before each timed reduction starts the ranks together.
#include <mlpk/communicator.hpp>

#include <benchmark/benchmark.h>
#include <mpi.h>

#include <chrono>
#include <memory>
#include <vector>

namespace {

mlpk::Communicator* world = nullptr;

// 784-256-128-10, 784-512-256-10 and 784-1024-1024-1024-10: their parameters, in floats.
constexpr int64_t kSizes[] = {235146, 535818, 2913290};

template <class Reduce>
void time_reductions(benchmark::State& state, Reduce reduce) {
  std::vector<float> values(static_cast<std::size_t>(state.range(0)), 1.0f);
  for (auto _ : state) {
    world->barrier();
    const auto start = std::chrono::steady_clock::now();
    reduce(values);
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) * static_cast<int64_t>(sizeof(float)));
  state.counters["ranks"] = static_cast<double>(world->size());
}

void BM_AllReduce_RankOrder(benchmark::State& state) {
  time_reductions(state, [](std::vector<float>& v) { world->all_reduce_sum(std::span<float>(v)); });
}

void BM_AllReduce_Mpi(benchmark::State& state) {
  time_reductions(state, [](std::vector<float>& v) {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
}

void sizes(benchmark::internal::Benchmark* b) {
  for (const int64_t n : kSizes) b->Arg(n);
  b->Iterations(200)->UseManualTime()->Unit(benchmark::kMicrosecond)->Repetitions(3)->ReportAggregatesOnly();
}
BENCHMARK(BM_AllReduce_Mpi)->Apply(sizes);
BENCHMARK(BM_AllReduce_RankOrder)->Apply(sizes);

class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  const std::shared_ptr<mlpk::Communicator> communicator = mlpk::mpi_communicator();
  world = communicator.get();
  benchmark::Initialize(&argc, argv);
  Silent silent;
  if (world->rank() == 0)
    benchmark::RunSpecifiedBenchmarks();
  else
    benchmark::RunSpecifiedBenchmarks(&silent);
  world->barrier();
  return 0;
}
