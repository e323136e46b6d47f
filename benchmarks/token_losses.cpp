// Token losses: forward plus gradient of every GRPO loss type (token level; the clipped types also
// at sequence level, GSPO; each with beta = 0 and beta > 0) and of the PPO clipped surrogate, on
// [B, T] float inputs with a 90% mask, one thread. Each case's tokens per second stand beside
// (a) the DRAM-bandwidth limit measured in the same run (triad GB/s over the bytes the case must
// move per token) and (b) a batched PyTorch eager implementation of TRL's formula with autograd
// (benchmarks/token_losses_torch.py, launched here on the same inputs). Rounds interleave the
// triad, polo and torch so that load on a shared machine hits all three; medians over rounds.
//
//   build/benchmarks/token_losses [--rows B] [--cols T] [--rounds N] [--filter S] [--json FILE]

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "benchmarks/common/bandwidth.hpp"
#include "benchmarks/common/python.hpp"
#include "benchmarks/common/report.hpp"
#include "benchmarks/common/timing.hpp"
#include "common/cli.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/losses/grpo.hpp"
#include "polo/losses/ppo.hpp"

namespace {

double median(std::vector<double> v) {
  return polo::bench::stats_of(std::move(v)).median;
}

/// The benchmark's inputs, float as a trainer hands them over; the mask is uint8 (1 byte).
struct Batch {
  polo::TokenArrayf logp, old_logp, ref_logp, token_advantages, grad;
  polo::SeqArrayf advantages;
  polo::MaskArray mask;
};

/// LLM-like log-probs (exponential with mean 0.5 below 0), old and reference policies a
/// N(0, 0.1) log-ratio away (so that some ratios leave the clip interval), normal advantages,
/// and a mask valid with probability `valid` per token.
Batch make_batch(polo::Index rows, polo::Index cols, double valid, std::uint64_t seed) {
  polo::Rng rng(seed);
  Batch b;
  b.logp.resize(rows, cols);
  b.old_logp.resize(rows, cols);
  b.ref_logp.resize(rows, cols);
  b.token_advantages.resize(rows, cols);
  b.grad.resize(rows, cols);
  b.advantages.resize(rows);
  b.mask.resize(rows, cols);
  for (polo::Index i = 0; i < rows; ++i) {
    b.advantages(i) = static_cast<float>(polo::normal(rng));
    for (polo::Index t = 0; t < cols; ++t) {
      const double l = 0.5 * std::log(polo::uniform_open(rng));
      b.logp(i, t) = static_cast<float>(l);
      b.old_logp(i, t) = static_cast<float>(l + 0.1 * polo::normal(rng));
      b.ref_logp(i, t) = static_cast<float>(l + 0.1 * polo::normal(rng));
      b.token_advantages(i, t) = static_cast<float>(polo::normal(rng));
      b.mask(i, t) = polo::uniform(rng) < valid ? 1 : 0;
    }
  }
  return b;
}

template <class A>
void write_raw(const std::filesystem::path& path, const A& a) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(a.data()),
            static_cast<std::streamsize>(a.size() * sizeof(typename A::Scalar)));
  if (!out) throw polo::io_error(path.string(), "cannot write");
}

polo::TokenArrayf read_grad(const std::filesystem::path& path, polo::Index rows, polo::Index cols) {
  polo::TokenArrayf g(rows, cols);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(g.data()), static_cast<std::streamsize>(g.size() * 4));
  if (!in) throw polo::io_error(path.string(), "cannot read the gradient file");
  return g;
}

/// max |a - b| / max |b| (a plain loop: Eigen's AVX-512 maxCoeff trips GCC 12's
/// -Wmaybe-uninitialized).
double max_rel_diff(const polo::TokenArrayf& a, const polo::TokenArrayf& b) {
  double diff = 0.0;
  double scale = 1e-30;
  for (polo::Index k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(static_cast<double>(a.data()[k]) - b.data()[k]));
    scale = std::max(scale, std::abs(static_cast<double>(b.data()[k])));
  }
  return diff / scale;
}

/// A fresh temporary directory, removed with its files by the destructor.
class TempDir {
 public:
  /// `keep` non-empty: that directory instead, created if needed and kept.
  explicit TempDir(const std::string& keep) {
    if (!keep.empty()) {
      path_ = keep;
      keep_ = true;
      std::filesystem::create_directories(path_);
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "polo-token-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw polo::io_error(pattern, "cannot create a temporary directory");
    }
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

struct Case {
  std::string name;
  nlohmann::json spec;          // what the PyTorch side computes
  double bytes_per_token;       // DRAM traffic the case cannot avoid, per [B, T] position
  std::function<double()> run;  // one polo call (forward + gradient), returns the value
};

const char* loss_type_name(polo::GrpoLossType t) {
  switch (t) {
    case polo::GrpoLossType::grpo:
      return "grpo";
    case polo::GrpoLossType::bnpo:
      return "bnpo";
    case polo::GrpoLossType::dr_grpo:
      return "dr_grpo";
    case polo::GrpoLossType::dapo:
      return "dapo";
    case polo::GrpoLossType::cispo:
      return "cispo";
    case polo::GrpoLossType::sapo:
      return "sapo";
  }
  return "?";
}

std::vector<Case> make_cases(Batch& b, double beta_kl) {
  using polo::GrpoLossType;
  const polo::Index rows = b.logp.rows();
  const polo::Index cols = b.logp.cols();
  const double per_row = 4.0 / static_cast<double>(cols);  // advantages [B], amortized per token
  std::vector<Case> cases;
  const polo::TokenView<float> grad(b.grad);
  for (const bool sequence : {false, true}) {
    for (const double beta : {0.0, beta_kl}) {
      for (const GrpoLossType type :
           {GrpoLossType::grpo, GrpoLossType::bnpo, GrpoLossType::dr_grpo, GrpoLossType::dapo,
            GrpoLossType::cispo, GrpoLossType::sapo}) {
        // GSPO clips a sequence ratio: the clipped surrogate types only.
        if (sequence && (type == GrpoLossType::cispo || type == GrpoLossType::sapo)) continue;
        polo::GRPO loss{.epsilon_low = 0.2, .epsilon_high = 0.28, .beta = beta, .loss_type = type};
        if (type == GrpoLossType::cispo) loss.epsilon_high = 5.0;  // ScaleRL's recommendation
        if (type == GrpoLossType::dr_grpo) loss.max_completion_length = static_cast<double>(cols);
        if (sequence) {  // GSPO's clip widths
          loss.epsilon_low = 3e-4;
          loss.epsilon_high = 4e-4;
          loss.importance_sampling_level = polo::ImportanceSamplingLevel::sequence;
        }
        const std::string name = fmt::format("{}{}{}", loss_type_name(type), sequence ? "_seq" : "",
                                             beta > 0.0 ? "_kl" : "");
        const nlohmann::json spec = {{"name", name},
                                     {"kind", "grpo"},
                                     {"loss_type", loss_type_name(type)},
                                     {"level", sequence ? "sequence" : "token"},
                                     {"beta", beta},
                                     {"epsilon_low", loss.epsilon_low},
                                     {"epsilon_high", loss.epsilon_high},
                                     {"max_completion_length", loss.max_completion_length},
                                     {"sapo_temperature_pos", loss.sapo_temperature_pos},
                                     {"sapo_temperature_neg", loss.sapo_temperature_neg}};
        polo::GRPOInputs<float> in{.logp = b.logp,
                                   .old_logp = b.old_logp,
                                   .ref_logp = beta > 0.0 ? polo::TokenView<const float>(b.ref_logp)
                                                          : polo::TokenView<const float>{},
                                   .advantages = b.advantages,
                                   .mask = b.mask};
        // logp, old_logp, the gradient and the mask per token; ref_logp with the KL term.
        const double bytes = 4.0 * (beta > 0.0 ? 4.0 : 3.0) + 1.0 + per_row;
        cases.push_back(
            {name, spec, bytes, [loss, in, grad] { return loss.compute(in, grad).value; }});
      }
    }
  }
  const polo::PPOClip ppo = polo::ppo_clip(0.2);
  const polo::PolicyInputs<float> in{
      .logp = b.logp, .old_logp = b.old_logp, .advantages = b.token_advantages, .mask = b.mask};
  cases.push_back({"ppo_clip",
                   {{"name", "ppo_clip"},
                    {"kind", "ppo"},
                    {"epsilon_low", ppo.epsilon_low},
                    {"epsilon_high", ppo.epsilon_high}},
                   4.0 * 4.0 + 1.0,
                   [ppo, in, grad] { return ppo.compute(in, grad).value; }});
  (void)rows;
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  polo::Index rows = 512;
  polo::Index cols = 512;
  double valid = 0.9;
  double beta = 0.04;
  int rounds = 3;
  int repeats = 51;
  int torch_repeats = 15;
  std::size_t triad_mib = 1024;
  std::uint64_t seed = 1;
  std::string filter;
  bool no_torch = false;
  std::string json_path;
  std::string data_dir;
  CLI::App app{"Token losses: polo vs DRAM bandwidth vs PyTorch eager (one thread)",
               "token_losses"};
  app.add_option("--rows", rows, "B, sequences")->capture_default_str();
  app.add_option("--cols", cols, "T, tokens per sequence")->capture_default_str();
  app.add_option("--valid", valid, "probability that a token is valid (the mask)")
      ->capture_default_str();
  app.add_option("--beta", beta, "KL coefficient of the *_kl cases")->capture_default_str();
  app.add_option("--rounds", rounds, "interleaved rounds of triad, polo and torch")
      ->capture_default_str();
  app.add_option("--repeats", repeats, "polo calls per case and round (median)")
      ->capture_default_str();
  app.add_option("--torch-repeats", torch_repeats, "torch calls per case and round (median)")
      ->capture_default_str();
  app.add_option("--triad-mib", triad_mib, "MiB per triad array (far above the caches)")
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the inputs")->capture_default_str();
  app.add_option("--filter", filter, "only the cases whose name contains this");
  app.add_option("--data", data_dir,
                 "keep the inputs and both gradients (<case>.grad.f32 torch, <case>.polo.f32) "
                 "in this directory")
      ->type_name("DIR");
  app.add_flag("--no-torch", no_torch, "skip the PyTorch reference");
  app.add_option("--json", json_path, "write the report as JSON")->type_name("FILE");
  polo::examples::parse_or_exit(app, argc, argv);

  try {
    Batch batch = make_batch(rows, cols, valid, seed);
    std::vector<Case> cases;
    for (auto& c : make_cases(batch, beta)) {
      if (c.name.find(filter) != std::string::npos) cases.push_back(std::move(c));
    }
    if (cases.empty()) throw polo::invalid_argument("token_losses: --filter matches no case");
    const double positions = static_cast<double>(rows) * static_cast<double>(cols);

    const TempDir dir(data_dir);
    const std::string script = std::string(POLO_SOURCE_DIR) + "/benchmarks/token_losses_torch.py";
    const auto cases_file = dir.path() / "cases.json";
    if (!no_torch) {
      write_raw(dir.path() / "logp.f32", batch.logp);
      write_raw(dir.path() / "old_logp.f32", batch.old_logp);
      write_raw(dir.path() / "ref_logp.f32", batch.ref_logp);
      write_raw(dir.path() / "token_advantages.f32", batch.token_advantages);
      write_raw(dir.path() / "advantages.f32", batch.advantages);
      write_raw(dir.path() / "mask.u8", batch.mask);
      nlohmann::json specs = nlohmann::json::array();
      for (const auto& c : cases)
        specs.push_back(c.spec);
      std::ofstream(cases_file) << specs.dump();
    }

    const std::size_t n = cases.size();
    std::vector<double> triad;
    std::vector<std::vector<double>> ours(n), theirs(n), ratio(n), grad_diff(n), value_diff(n);
    for (int round = 0; round < rounds; ++round) {
      polo::bench::TriadOptions triad_options;
      triad_options.bytes_per_array = triad_mib << 20U;
      triad.push_back(polo::bench::triad_bandwidth_gbs(triad_options));
      std::vector<double> values(n);
      for (std::size_t k = 0; k < n; ++k) {
        const double seconds = polo::bench::median_seconds(
            [&] { polo::bench::do_not_optimize(values[k] = cases[k].run()); }, repeats, 3);
        ours[k].push_back(positions / seconds);
      }
      std::printf("round %d  triad %.1f GB/s, polo done\n", round + 1, triad.back());
      if (no_torch) continue;
      const bool check = round == 0;  // the gradients are the same every round
      std::vector<std::string> args{
          "--data",    dir.path().string(),           "--rows",    std::to_string(rows),
          "--cols",    std::to_string(cols),          "--cases",   cases_file.string(),
          "--repeats", std::to_string(torch_repeats), "--threads", "1"};
      if (check) args.emplace_back("--write-grads");
      const auto torch = polo::bench::run_python(script, args);
      for (std::size_t k = 0; k < n; ++k) {
        const auto& r = torch.at("cases").at(k);
        const double tps = positions / r.at("seconds").get<double>();
        theirs[k].push_back(tps);
        ratio[k].push_back(ours[k].back() / tps);
        if (!check) continue;
        // Same inputs, same formula: the gradients agree to float rounding.
        cases[k].run();
        if (!data_dir.empty()) write_raw(dir.path() / (cases[k].name + ".polo.f32"), batch.grad);
        const auto g = read_grad(dir.path() / (cases[k].name + ".grad.f32"), rows, cols);
        grad_diff[k].push_back(max_rel_diff(batch.grad, g));
        const double tv = r.at("value_float64").get<double>();
        value_diff[k].push_back(std::abs(values[k] - tv) / std::max(std::abs(tv), 1e-30));
      }
      std::printf("round %d  torch done\n", round + 1);
    }

    const double gbs = median(triad);
    polo::bench::Report report(fmt::format(
        "Token losses, [{}, {}] float, {:.0f}% mask (uint8), forward + gradient, one thread; "
        "triad {:.1f} GB/s (median of {} rounds)",
        rows, cols, 100.0 * valid, gbs, rounds));
    for (std::size_t k = 0; k < n; ++k) {
      const double limit = gbs * 1e9 / cases[k].bytes_per_token;
      polo::bench::Report::Json fields = {{"tokens_per_second", median(ours[k])}};
      if (!no_torch) {
        fields["torch_tokens_per_second"] = median(theirs[k]);
        fields["speedup"] = median(ratio[k]);
      }
      fields["bytes_per_token"] = cases[k].bytes_per_token;
      fields["bandwidth_limit_tokens_per_second"] = limit;
      fields["percent_of_limit"] = 100.0 * median(ours[k]) / limit;
      if (!no_torch) {
        fields["value_rel_diff"] = value_diff[k].front();
        fields["grad_rel_diff"] = grad_diff[k].front();
      }
      report.add(cases[k].name, fields);
    }
    report.print();
    if (!json_path.empty()) report.write_json(json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "token_losses benchmark: %s\n", e.what());
    return 1;
  }
  return 0;
}
