#pragma once
// Everything public in polo. Each header also stands on its own.

#include "polo/core/aggregation.hpp"
#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/gradcheck.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/reduce.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

#include "polo/advantage/gae.hpp"
#include "polo/advantage/group.hpp"
#include "polo/advantage/whiten.hpp"

#include "polo/losses/entropy_bonus.hpp"
#include "polo/losses/grpo.hpp"
#include "polo/losses/kl.hpp"
#include "polo/losses/ppo.hpp"
#include "polo/losses/ppo_max.hpp"
#include "polo/losses/result.hpp"
#include "polo/losses/value_loss.hpp"

#include "polo/nn/activation.hpp"
#include "polo/nn/checkpoint.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/crc32.hpp"
#include "polo/nn/ema.hpp"
#include "polo/nn/init.hpp"
#include "polo/nn/mlp.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/schedule.hpp"

#include "polo/distributions/categorical.hpp"
#include "polo/distributions/gaussian.hpp"

#include "polo/envs/cartpole.hpp"
#include "polo/envs/vector_env.hpp"
