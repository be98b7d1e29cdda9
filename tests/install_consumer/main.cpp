// Learn XOR with any backend: ./xor [backend]
#include <mlpk/mlpk.hpp>

#include <iostream>

int main(int argc, char** argv) try {
  const std::string backend = argc > 1 ? argv[1] : mlpk::default_backend_name();
  mlpk::Network net(mlpk::Architecture::parse("2-8-1", mlpk::Activation::tanh,
                                              mlpk::Loss::sigmoid_binary_cross_entropy),
                    mlpk::create_backend(backend));
  net.initialize(/*seed=*/1);

  const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
  const mlpk::ConstMatrixView inputs(x, 4, 2), targets(y, 4, 1);
  mlpk::Sgd sgd(/*learning_rate=*/0.5f);
  for (int step = 0; step < 2000; ++step) mlpk::train_batch(net, sgd, inputs, targets);

  const mlpk::ConstMatrixView out = net.forward(inputs);
  int correct = 0;
  for (int i = 0; i < 4; ++i) correct += (out(i, 0) > 0.5f) == (y[i] > 0.5f);
  std::cout << net.backend().description() << ": XOR " << correct << "/4, loss "
            << net.loss(targets) << "\n";
  return correct == 4 ? 0 : 1;
} catch (const mlpk::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 2;
}
