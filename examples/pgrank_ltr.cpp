// Learning to rank with Plackett-Luce policies: PG-Rank, PL-Rank, ListMLE or pointwise regression
// on a synthetic LETOR-style data set, with an MLP scorer and Adam.
//
//   build/examples/pgrank_ltr [--method pgrank|plrank|listmle|pointwise] [--seed N] [--steps N]
//                             [--samples K] [--out DIR] [--quiet]
//
// Prints a progress line per evaluation; with --out writes DIR/log.csv (step, train objective,
// validation nDCG@10, seconds) and DIR/summary.json (seed, method, test_ndcg_at_10,
// train_ndcg_at_10, wall_seconds, queries_per_second, the gradient variances of PG-Rank and
// PL-Rank at equal K, the hyper-parameters).

#include <cstdio>
#include <map>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/pgrank_ltr.hpp"

int main(int argc, char** argv) {
  using polo::examples::LtrMethod;
  polo::examples::LtrTrainConfig config;
  polo::examples::CommonOptions common(config.steps);
  CLI::App app{"Learning to rank: PG-Rank / PL-Rank / ListMLE / pointwise on synthetic LETOR",
               "pgrank_ltr"};
  polo::examples::add_common_options(app, common, "Adam updates");
  const std::map<std::string, LtrMethod> methods{{"pgrank", LtrMethod::pgrank},
                                                 {"plrank", LtrMethod::plrank},
                                                 {"listmle", LtrMethod::listmle},
                                                 {"pointwise", LtrMethod::pointwise}};
  std::string method = "plrank";
  app.add_option("--method", method, "training objective: pgrank, plrank, listmle or pointwise")
      ->check(CLI::IsMember({"pgrank", "plrank", "listmle", "pointwise"}))
      ->capture_default_str();
  app.add_option("--samples", config.samples, "sampled rankings per query (K)")
      ->capture_default_str();
  app.add_option("--top-k", config.top_k, "sampled prefix length and nDCG cutoff")
      ->capture_default_str();
  app.add_option("--batch-queries", config.batch_queries, "queries per update")
      ->capture_default_str();
  app.add_option("--learning-rate", config.learning_rate, "Adam learning rate")
      ->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden width of the two-layer MLP scorer")
      ->capture_default_str();
  app.add_option("--data-seed", config.data_seed, "seed of the data set")->capture_default_str();
  polo::examples::parse_or_exit(app, argc, argv);
  config.steps = common.steps;
  config.seed = common.seed;
  config.method = methods.at(method);

  try {
    polo::examples::RunOutput output(common.out);
    auto& log = output.log({"step", "train_objective", "validation_ndcg_at_10", "seconds"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::LtrTrainer trainer(config);
    const std::string name(polo::examples::method_name(config.method));
    const auto s = trainer.run([&](const polo::examples::LtrLog& l) {
      log.row({static_cast<double>(l.step), l.train_objective, l.validation_ndcg, l.seconds});
      progress.update(
          fmt::format("pgrank_ltr {}  step {:>5}/{}  objective {:.4f}  val nDCG@10 "
                      "{:.4f}  {:.1f} s",
                      name, l.step, config.steps, l.train_objective, l.validation_ndcg, l.seconds));
    });
    progress.finish(fmt::format(
        "pgrank_ltr {}  seed {}  test nDCG@10 {:.4f} (untrained {:.4f})  train {:.4f}  {:.2f} s "
        "({:.0f} queries/s)  score-gradient variance at K={}: PG-Rank {:.4g}, PL-Rank {:.4g} "
        "(initial {:.4g}, {:.4g})",
        name, config.seed, s.test_ndcg_at_10, s.initial_test_ndcg_at_10, s.train_ndcg_at_10,
        s.wall_seconds, s.queries_per_second, config.samples, s.grad_variance_pgrank_final,
        s.grad_variance_plrank_final, s.grad_variance_pgrank_initial,
        s.grad_variance_plrank_initial));
    log.flush();
    const auto& d = config.data;
    output.write_summary(
        nlohmann::json{{"seed", config.seed},
                       {"method", name},
                       {"test_ndcg_at_10", s.test_ndcg_at_10},
                       {"train_ndcg_at_10", s.train_ndcg_at_10},
                       {"validation_ndcg_at_10", s.validation_ndcg_at_10},
                       {"initial_test_ndcg_at_10", s.initial_test_ndcg_at_10},
                       {"wall_seconds", s.wall_seconds},
                       {"queries_per_second", s.queries_per_second},
                       {"grad_variance_pgrank_initial", s.grad_variance_pgrank_initial},
                       {"grad_variance_plrank_initial", s.grad_variance_plrank_initial},
                       {"grad_variance_pgrank_final", s.grad_variance_pgrank_final},
                       {"grad_variance_plrank_final", s.grad_variance_plrank_final},
                       {"hyperparameters",
                        {{"steps", config.steps},
                         {"batch_queries", config.batch_queries},
                         {"samples", config.samples},
                         {"top_k", config.top_k},
                         {"learning_rate", config.learning_rate},
                         {"hidden", config.hidden},
                         {"data_seed", config.data_seed},
                         {"train_queries", d.train_queries},
                         {"validation_queries", d.validation_queries},
                         {"test_queries", d.test_queries},
                         {"features", d.features},
                         {"min_docs", d.min_docs},
                         {"max_docs", d.max_docs},
                         {"query_shift", d.query_shift},
                         {"label_noise", d.label_noise}}}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgrank_ltr: %s\n", e.what());
    return 1;
  }
  return 0;
}
