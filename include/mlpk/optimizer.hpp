// Optimizers: update a Network's parameters from its gradients.
#pragma once

#include <mlpk/network.hpp>

namespace mlpk {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update to net.parameters() from net.gradients().
  virtual void step(Network& net) = 0;
};

// Plain stochastic gradient descent: W -= learning_rate * dW.
class Sgd final : public Optimizer {
 public:
  explicit Sgd(float learning_rate);  // throws mlpk::Error unless 0 < learning_rate < inf
  void step(Network& net) override;
  float learning_rate() const { return learning_rate_; }

 private:
  float learning_rate_;
};

// forward + loss + backward + optimizer step on one batch; returns the batch loss.
double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x, ConstMatrixView y);

}  // namespace mlpk
