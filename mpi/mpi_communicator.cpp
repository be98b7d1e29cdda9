// libmlpk_mpi.so: the Communicator over MPI_COMM_WORLD, opened by mlpk::mpi_communicator().
//
// all_reduce_sum in rank order: rank c owns chunk c of the buffer (share_of); an all-to-all
// sends every rank's chunk c to rank c, which adds the contributions in rank order, and an
// all-gather hands the summed chunks to everyone. Both collectives only move bytes, so the sum
// is the same bits whatever algorithm MPI picks for them; each rank sends and receives
// 2 (P - 1)/P of the buffer, what a ring all-reduce moves. Two ranks are the exception: each
// element's sum is then one addition, and IEEE addition is commutative, so MPI_Allreduce's
// result is the rank-order sum bit for bit whatever its algorithm (measured on 2 ranks of one
// machine: 1.0x-1.55x faster than the all-to-all route, bench/bench_allreduce.cpp).
//
// start_all_reduce_sum hands the sum to a thread of this communicator's, which makes every MPI
// call while sums are under way (MPI_THREAD_SERIALIZED: one thread in MPI at a time); the other
// collectives wait for it and then run on the caller's thread. Only with MLPK_MPI_OVERLAP=1:
// by default each sum runs at once on the caller's thread, since on the 2-core machines measured
// (bench/mpi_scaling.sh) the reducing thread took a core from the backward pass and epochs were
// 2-7% slower with the overlap than without.
#include <mlpk/communicator.hpp>
#include <mlpk/error.hpp>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mlpk {
namespace {

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(std::string("MPI: ") + what + " failed: " + text);
}

int as_count(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw Error(std::string("MPI: ") + what + " of " + std::to_string(n) +
                " elements: more than MPI's int counts hold");
  return static_cast<int>(n);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(bool owns_mpi, bool overlap) : owns_mpi_(owns_mpi) {
    int rank = 0, size = 0;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
    rank_ = static_cast<std::size_t>(rank);
    size_ = static_cast<std::size_t>(size);
    counts_.resize(size_);
    displacements_.resize(size_);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(version, &length);
    library_ = std::string(version, static_cast<std::size_t>(length));
    library_ = library_.substr(0, library_.find_first_of(",\n"));
    if (overlap && size_ > 1) {
      pending_.reserve(4096);  // a network's layers (kMaxLayers): starting a sum allocates nothing
      worker_ = std::thread([this] { run_background_sums(); });
    }
  }
  ~MpiCommunicator() override {
    if (worker_.joinable()) {
      {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
      }
      work_.notify_one();
      worker_.join();
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  std::string description() const override {
    return "MPI (" + library_ + "), rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }

  void all_reduce_sum(std::span<float> values) override {
    wait();
    reduce_in_rank_order(values, float_scratch_);
  }
  void all_reduce_sum(std::span<double> values) override {
    wait();
    reduce_in_rank_order(values, double_scratch_);
  }

  void start_all_reduce_sum(std::span<float> values) override {
    if (!worker_.joinable()) return all_reduce_sum(values);
    {
      const std::lock_guard lock(mutex_);
      pending_.push_back(values);
    }
    work_.notify_one();
  }
  void wait() override {
    if (!worker_.joinable()) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return next_ == pending_.size(); });
    pending_.clear();
    next_ = 0;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  void broadcast(std::span<std::byte> bytes, std::size_t root) override {
    wait();
    if (root >= size_) throw Error("broadcast: root " + std::to_string(root) + " of " + std::to_string(size_) + " ranks");
    for (std::size_t first = 0; first < bytes.size(); first += INT_MAX) {
      const std::size_t count = std::min<std::size_t>(INT_MAX, bytes.size() - first);
      check(MPI_Bcast(bytes.data() + first, static_cast<int>(count), MPI_BYTE, static_cast<int>(root),
                      MPI_COMM_WORLD),
            "MPI_Bcast");
    }
  }
  void barrier() override {
    wait();
    check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }
  [[noreturn]] void abort(int code, std::string_view message) override {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, end this rank anyway
  }

 private:
  // The background thread: sums the started buffers in the order they came.
  void run_background_sums() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [this] { return stopping_ || next_ < pending_.size(); });
      if (next_ == pending_.size()) return;  // stopping, and nothing left
      const std::span<float> values = pending_[next_];
      lock.unlock();
      std::exception_ptr failed;
      try {
        if (!error_) reduce_in_rank_order(values, float_scratch_);
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      if (failed && !error_) error_ = failed;
      if (++next_ == pending_.size()) done_.notify_all();
    }
  }

  template <class T>
  void reduce_in_rank_order(std::span<T> values, std::vector<T>& scratch) {
    if (size_ == 1) return;
    as_count(values.size(), "all_reduce_sum");
    if (size_ == 2 && !force_rank_order_) {
      check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), mpi_type<T>(),
                          MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
      return;
    }
    const Share mine = share_of(values.size(), rank_, size_);
    // Send chunk c to rank c; receive every rank's copy of my chunk, rank r's at r * mine.count.
    for (std::size_t c = 0; c < size_; ++c) {
      const Share s = share_of(values.size(), c, size_);
      counts_[c] = static_cast<int>(s.count);
      displacements_[c] = static_cast<int>(s.first);
    }
    receive_counts_.assign(size_, static_cast<int>(mine.count));
    receive_displacements_.resize(size_);
    for (std::size_t r = 0; r < size_; ++r) receive_displacements_[r] = static_cast<int>(r * mine.count);
    if (scratch.size() < size_ * mine.count) scratch.resize(size_ * mine.count);  // grows once
    check(MPI_Alltoallv(values.data(), counts_.data(), displacements_.data(), mpi_type<T>(),
                        scratch.data(), receive_counts_.data(), receive_displacements_.data(),
                        mpi_type<T>(), MPI_COMM_WORLD),
          "MPI_Alltoallv");
    T* sum = values.data() + mine.first;
    std::copy_n(scratch.data(), mine.count, sum);
    for (std::size_t r = 1; r < size_; ++r) {
      const T* part = scratch.data() + r * mine.count;
      for (std::size_t i = 0; i < mine.count; ++i) sum[i] += part[i];
    }
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, mpi_type<T>(), values.data(), counts_.data(),
                         displacements_.data(), mpi_type<T>(), MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }

  bool owns_mpi_;
  // MLPK_MPI_RANK_ORDER=1: the all-to-all route for two ranks too (to test and measure it).
  bool force_rank_order_ = std::getenv("MLPK_MPI_RANK_ORDER") != nullptr &&
                           std::strcmp(std::getenv("MLPK_MPI_RANK_ORDER"), "1") == 0;
  std::size_t rank_ = 0, size_ = 1;
  std::string library_;
  // Reused by every reduction: a steady-state training step allocates nothing.
  std::vector<int> counts_, displacements_, receive_counts_, receive_displacements_;
  std::vector<float> float_scratch_;
  std::vector<double> double_scratch_;
  // The started sums: pending_[next_..] are still to do. Guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_, done_;
  std::vector<std::span<float>> pending_;
  std::size_t next_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace
}  // namespace mlpk

extern "C" __attribute__((visibility("default"))) int mlpk_mpi_module_abi() {
  return mlpk::kCommunicatorAbiVersion;
}

extern "C" __attribute__((visibility("default"))) mlpk::Communicator* mlpk_mpi_create(char* error,
                                                                                    std::size_t error_size) {
  const auto fail = [&](const std::string& message) -> mlpk::Communicator* {
    std::snprintf(error, error_size, "%s", message.c_str());
    return nullptr;
  };
  try {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) return fail("MPI was finalized in this process and cannot start again");
    bool owns = false;
    int provided = MPI_THREAD_SINGLE;
    if (!initialized) {
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return fail("MPI_Init_thread failed");
      owns = true;
    } else {
      MPI_Query_thread(&provided);
    }
    const char* overlap_env = std::getenv("MLPK_MPI_OVERLAP");
    const bool overlap = provided >= MPI_THREAD_SERIALIZED && overlap_env != nullptr &&
                         std::strcmp(overlap_env, "1") == 0;
    // Errors come back as exceptions with MPI's message instead of killing the job unexplained.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return new mlpk::MpiCommunicator(owns, overlap);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
