// mlpk: multi-layer perceptrons trained on CPUs through plugin compute backends.
// Include this one header for the whole public API.
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/communicator.hpp>
#include <mlpk/data.hpp>
#include <mlpk/dropout.hpp>
#include <mlpk/error.hpp>
#include <mlpk/machine.hpp>
#include <mlpk/metrics.hpp>
#include <mlpk/model_file.hpp>
#include <mlpk/network.hpp>
#include <mlpk/optimizer.hpp>
#include <mlpk/profiler.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/tensor.hpp>
#include <mlpk/trainer.hpp>
