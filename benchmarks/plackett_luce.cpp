// Plackett-Luce ranking gradients: for Q queries of n items (float scores, graded labels), sample
// K top-k rankings per query by the Gumbel trick and compute the score gradient of PG-Rank
// (leave-one-out baseline, nDCG@k) or of PL-Rank-2 (by PL-Rank-3); one thread, median of repeats,
// against a batched PyTorch eager implementation of the same estimators
// (benchmarks/plackett_luce_torch.py) launched here, in the same run.
//
//   build/benchmarks/plackett_luce [--queries 256] [--items 100] [--samples 16] [--top-k 10]
//                                  [--repeats 15] [--no-torch] [--json FILE]

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "benchmarks/common/python.hpp"
#include "benchmarks/common/report.hpp"
#include "benchmarks/common/timing.hpp"
#include "common/cli.hpp"
#include "polo/core/random.hpp"
#include "polo/ranking/pg_rank.hpp"
#include "polo/ranking/pl_rank.hpp"
#include "polo/ranking/plackett_luce.hpp"

namespace {

/// The 1-minute load average, to read the timings of a shared machine with.
double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  in >> load;
  return load;
}

}  // namespace

int main(int argc, char** argv) {
  polo::Index queries = 256;
  polo::Index items = 100;
  polo::Index samples = 16;
  polo::Index top_k = 10;
  int repeats = 15;
  bool no_torch = false;
  std::string json_path;
  CLI::App app{"Plackett-Luce sampling + PG-Rank / PL-Rank gradients: polo vs PyTorch eager",
               "plackett_luce"};
  app.add_option("--queries", queries, "queries per batch")->capture_default_str();
  app.add_option("--items", items, "items per query")->capture_default_str();
  app.add_option("--samples", samples, "sampled rankings per query (K)")->capture_default_str();
  app.add_option("--top-k", top_k, "sampled prefix length and nDCG cutoff")->capture_default_str();
  app.add_option("--repeats", repeats, "timed repeats (the median is reported)")
      ->capture_default_str();
  app.add_flag("--no-torch", no_torch, "skip the PyTorch reference");
  app.add_option("--json", json_path, "write the report as JSON")->type_name("FILE");
  polo::examples::parse_or_exit(app, argc, argv);

  try {
    polo::Rng gen(1);
    polo::TokenArrayf scores(queries, items);
    polo::TokenArrayf relevance(queries, items);
    for (polo::Index k = 0; k < scores.size(); ++k) {
      scores.data()[k] = static_cast<float>(polo::normal(gen));
      const double u = polo::uniform(gen);  // grade shares 50 / 25 / 15 / 7 / 3 %
      relevance.data()[k] = static_cast<float>((u > 0.50) + (u > 0.75) + (u > 0.90) + (u > 0.97));
    }
    polo::Rankings rankings(queries * samples, top_k);
    polo::TokenArrayf grad(queries, items);
    const polo::PlackettLuce<float> pl{scores};
    const polo::RankingInputs<float> in{scores, relevance, rankings};

    const double load_before = load_average();
    const auto pg_stats = polo::bench::time_stats(
        [&] {
          pl.sample(gen, samples, rankings);
          polo::bench::do_not_optimize(
              polo::PGRank{}.compute(in, polo::TokenView<float>(grad)).value);
        },
        repeats, 2);
    const auto pl_stats = polo::bench::time_stats(
        [&] {
          pl.sample(gen, samples, rankings);
          polo::bench::do_not_optimize(
              polo::PLRank{}.compute(in, polo::TokenView<float>(grad)).value);
        },
        repeats, 2);
    // The sampler alone: what the two cases share.
    const auto sample_stats = polo::bench::time_stats(
        [&] {
          pl.sample(gen, samples, rankings);
          polo::bench::do_not_optimize(rankings(0, 0));
        },
        repeats, 2);
    const double qd = static_cast<double>(queries);

    double torch_pg = 0.0;
    double torch_pl = 0.0;
    if (!no_torch) {
      const std::string script =
          std::string(POLO_SOURCE_DIR) + "/benchmarks/plackett_luce_torch.py";
      const auto torch = polo::bench::run_python(
          script, {"--queries", std::to_string(queries), "--items", std::to_string(items),
                   "--samples", std::to_string(samples), "--top-k", std::to_string(top_k),
                   "--repeats", std::to_string(repeats), "--threads", "1"});
      torch_pg = torch.at("cases").at("pgrank").at("queries_per_second").get<double>();
      torch_pl = torch.at("cases").at("plrank").at("queries_per_second").get<double>();
    }
    const double load_after = load_average();

    polo::bench::Report report(fmt::format(
        "Plackett-Luce: {} queries x {} items, K = {} top-{} samples + score gradient, one "
        "thread, float (median of {}; load {:.2f} -> {:.2f})",
        queries, items, samples, top_k, repeats, load_before, load_after));
    auto add = [&](const std::string& name, const polo::bench::Stats& st, double torch_qps) {
      polo::bench::Report::Json fields = {
          {"queries", queries},           {"items", items},
          {"samples", samples},           {"top_k", top_k},
          {"median_ms", st.median * 1e3}, {"queries_per_second", qd / st.median}};
      if (torch_qps > 0.0) {
        fields["torch_queries_per_second"] = torch_qps;
        fields["speedup"] = qd / st.median / torch_qps;
      }
      fields["load_average"] = load_after;
      report.add(name, fields);
    };
    add("pgrank_loo_ndcg", pg_stats, torch_pg);
    add("plrank3_ndcg", pl_stats, torch_pl);
    add("gumbel_topk_sample_only", sample_stats, 0.0);
    report.print();
    if (!json_path.empty()) report.write_json(json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plackett_luce benchmark: %s\n", e.what());
    return 1;
  }
  return 0;
}
