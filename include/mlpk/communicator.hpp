// Communicator: the processes ("ranks") of a data-parallel run and the collectives training
// needs. mlpk::core has the single-process one; the MPI one is a module of its own,
// libmlpk_mpi.so beside libmlpk_core, opened only when a program asks for it, so a program that
// never does loads no MPI library.
//
// Determinism: all_reduce_sum adds the ranks' values in rank order, ((v0 + v1) + v2) + ...,
// whatever the transport, so every rank gets the same bits, run after run, for a given number
// of ranks. (MPI_Allreduce fixes no order: its sum can change with the message sizes, the
// algorithm Open MPI picks and the ranks' placement.)
//
// Every rank must call the collectives in the same order with the same sizes. An exception on
// one rank leaves the others waiting in their next collective: catch it and call abort().
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace mlpk {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual std::size_t rank() const = 0;  // 0 .. size() - 1
  virtual std::size_t size() const = 0;  // at least 1
  // "single process", "MPI (Open MPI v4.1.4), rank 0 of 2"
  virtual std::string description() const = 0;

  // Sums `values` element by element over the ranks, in rank order, into `values` on every rank.
  // Every rank passes the same length (a different one ends the job: abort()).
  virtual void all_reduce_sum(std::span<float> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  // The same sum, started in the background: returns at once, and wait() returns when every sum
  // started before it has finished (throwing the first one's error, if any). Sums finish in the
  // order they were started, and `values` must be left alone until wait() returns. Element by
  // element, so summing a buffer in pieces gives the bits of summing it whole. What overlaps
  // the reduction of a layer's gradients with the backward pass of the layers below it; the
  // default runs the sum at once (so does the MPI one unless MLPK_MPI_OVERLAP=1). The other
  // collectives wait() first.
  virtual void start_all_reduce_sum(std::span<float> values) { all_reduce_sum(values); }
  virtual void wait() {}
  // Copies rank `root`'s bytes into every rank's `bytes` (of the same length).
  virtual void broadcast(std::span<std::byte> bytes, std::size_t root) = 0;
  virtual void barrier() = 0;
  // Ends the processes of every rank with exit status `code` after printing `message` on this
  // one: what a rank that failed calls so that the others do not wait for it forever.
  [[noreturn]] virtual void abort(int code, std::string_view message) = 0;
};

// The rows [first, first + count) of a batch of `rows` that rank `rank` of `ranks` takes: the
// batch cut in rank order into shares that differ by at most one row, the first ones larger.
struct Share {
  std::size_t first = 0, count = 0;
};
Share share_of(std::size_t rows, std::size_t rank, std::size_t ranks);

// One rank: every collective copies nothing and adds nothing.
std::shared_ptr<Communicator> single_process_communicator();

// Whether this process was started by mpirun/mpiexec (Open MPI's OMPI_COMM_WORLD_SIZE, or the
// PMI_SIZE / PMIX_RANK of other launchers).
bool launched_by_mpi();

// The process's MPI communicator over MPI_COMM_WORLD: the first call opens libmlpk_mpi.so
// (MLPK_MPI_MODULE if set, otherwise beside libmlpk_core) and initializes MPI; MPI is finalized
// when the last reference goes, and cannot be initialized again in this process. Throws
// mlpk::Error when the module is missing (mlpk was built without MPI) or MPI fails to start.
std::shared_ptr<Communicator> mpi_communicator();

// mpi_communicator() when launched_by_mpi(), single_process_communicator() otherwise.
std::shared_ptr<Communicator> communicator_from_environment();

// What libmlpk_mpi.so exports, for the loader: the ABI version it was built against and a
// factory that returns a new communicator or, on failure, nullptr with a message in `error`.
inline constexpr int kCommunicatorAbiVersion = 1;
extern "C" {
using MpiModuleAbiFunction = int (*)();
using MpiModuleCreateFunction = Communicator* (*)(char* error, std::size_t error_size);
}

}  // namespace mlpk
