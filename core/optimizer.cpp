// Optimizers. Parameters and gradients are one flat array each, so a step is one kernel call.
#include <mlpk/error.hpp>
#include <mlpk/optimizer.hpp>

#include <cmath>
#include <string>

namespace mlpk {

Sgd::Sgd(float learning_rate) : learning_rate_(learning_rate) {
  if (!(learning_rate > 0.0f) || !std::isfinite(learning_rate))
    throw Error("Sgd: the learning rate must be a positive finite number, not " +
                std::to_string(learning_rate));
}

void Sgd::step(Network& net) { net.backend().axpy(-learning_rate_, net.gradients(), net.parameters()); }

double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x, ConstMatrixView y) {
  net.forward(x);
  const double loss = net.loss(y);
  net.backward(y);
  optimizer.step(net);
  return loss;
}

}  // namespace mlpk
