// Checkpoints: CRC-32, bit-exact round trips (parameters, Adam moments and step, the generator's
// stream), and every refusal: missing file, bad magic, unsupported version, truncation,
// corruption, missing entries, shape and dtype mismatches, all or nothing on load.

#include "polo/nn/checkpoint.hpp"

#include <stdlib.h>  // mkdtemp

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using polo_test::Contains;

/// A fresh directory under /tmp, removed with its files at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = "/tmp/polo_nn_checkpoint_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool same_bits(const polo::Vectorf& a, const polo::Vectorf& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

/// A small trained state: an MLP after two Adam steps and a generator that has been used.
struct Trained {
  polo::Rng gen{2026};
  polo::MLP<float> net{{4, 16, 2}};
  polo::Adam<float> adam{net.num_parameters(), {.learning_rate = 3e-3}};
  Trained() {
    net.init_orthogonal(gen, std::sqrt(2.0), 0.01);
    polo::MLP<float>::Workspace ws;
    polo::MLP<float>::Matrix x(4, 8);
    for (polo::Index k = 0; k < x.size(); ++k)
      x.data()[k] = static_cast<float>(polo::normal(gen));
    for (int step = 0; step < 2; ++step) {
      net.zero_grad();
      const auto& y = net.forward(x, ws);
      net.backward(y, ws, polo::skip_input_grad);  // d/dy of 0.5 |y|^2
      adam.step(net.parameters(), net.gradients());
    }
    adam.set_learning_rate(1e-3);
  }
};

}  // namespace

TEST_CASE("crc32 is the IEEE CRC-32", "[nn][checkpoint]") {
  const std::string check = "123456789";
  const auto* bytes = reinterpret_cast<const unsigned char*>(check.data());
  CHECK(polo::detail::crc32({bytes, check.size()}) == 0xCBF43926U);
  CHECK(polo::detail::crc32({}) == 0U);
  // Continuing a CRC over a second chunk equals one pass over both.
  CHECK(polo::detail::crc32({bytes + 4, 5}, polo::detail::crc32({bytes, 4})) == 0xCBF43926U);
}

TEST_CASE("checkpoint round trip is bit-exact and the generator continues its stream",
          "[nn][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  Trained t;
  polo::save_checkpoint(path, t.net, t.adam, t.gen);
  CHECK(fs::exists(path));
  CHECK(!fs::exists(path + ".tmp"));

  polo::MLP<float> net({4, 16, 2});
  polo::Adam<float> adam(net.num_parameters());
  polo::Rng gen(1);
  polo::load_checkpoint(path, net, adam, gen);
  CHECK(same_bits(net.parameters(), t.net.parameters()));
  CHECK(same_bits(adam.exp_avg(), t.adam.exp_avg()));
  CHECK(same_bits(adam.exp_avg_sq(), t.adam.exp_avg_sq()));
  CHECK(adam.steps() == 2);
  CHECK(adam.learning_rate() == 1e-3);
  for (int k = 0; k < 1000; ++k)
    REQUIRE(gen() == t.gen());

  // The restored optimizer takes the identical next step.
  const polo::Vectorf g = polo::Vectorf::Constant(net.num_parameters(), 0.25f);
  t.adam.step(t.net.parameters(), g);
  adam.step(net.parameters(), g);
  CHECK(same_bits(net.parameters(), t.net.parameters()));

  // Saving again replaces the file atomically.
  polo::save_checkpoint(path, net, adam, gen);
  CHECK(polo::CheckpointReader::load(path).read_integer("optimizer/steps") == 3);
}

TEST_CASE("checkpoint entries: every kind, names and shapes", "[nn][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("entries.ckpt");
  polo::Vectord d(3);
  d << 1.0 / 3.0, -0.0, std::numeric_limits<double>::denorm_min();
  polo::Vectorf empty(0);
  const std::vector<std::int64_t> ints{-1, 0, std::numeric_limits<std::int64_t>::max()};
  polo::CheckpointWriter w;
  w.add("d", d);
  w.add("empty", empty);
  w.add_integers("ints", ints);
  w.add_scalar("pi", 3.141592653589793);
  w.add_integer("step", 42);
  w.add_text("config", "lr=3e-4\nclip=0.2");
  CHECK(w.size() == 6);
  CHECK(w.contains("pi"));
  CHECK_THROWS_WITH(w.add_scalar("pi", 1.0), Contains("unique") && Contains("'pi'"));
  CHECK_THROWS_AS(w.add_scalar("", 1.0), polo::invalid_argument);
  w.save(path);

  const auto r = polo::CheckpointReader::load(path);
  CHECK(r.path() == path);
  CHECK(r.names() == std::vector<std::string>{"config", "d", "empty", "ints", "pi", "step"});
  CHECK(r.contains("d"));
  CHECK(!r.contains("e"));
  CHECK(r.dtype("d") == polo::DType::float64);
  CHECK(r.shape("ints") == std::vector<std::uint64_t>{3});
  polo::Vectord d2(3);
  r.read("d", d2);
  CHECK(std::memcmp(d2.data(), d.data(), sizeof(double) * 3) == 0);
  CHECK(std::signbit(d2(1)));
  polo::Vectorf e2(0);
  r.read("empty", e2);
  CHECK(r.read_integers("ints") == ints);
  CHECK(r.read_scalar("pi") == 3.141592653589793);
  CHECK(r.read_integer("step") == 42);
  CHECK(r.read_text("config") == "lr=3e-4\nclip=0.2");
}

TEST_CASE("write_state / read_state for SGD, EMA and several models", "[nn][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("parts.ckpt");
  polo::Rng gen(9);
  polo::MLP<double> actor({3, 8, 2});
  polo::MLP<double> critic({3, 8, 1});
  actor.init_orthogonal(gen, std::sqrt(2.0), 0.01);
  critic.init_orthogonal(gen);
  polo::SGD<double> sgd(actor.num_parameters(), {.learning_rate = 0.1, .momentum = 0.9});
  sgd.step(actor.parameters(), polo::Vectord::Ones(actor.num_parameters()));
  polo::ParameterEMA<double> ema(critic.parameters(), {.decay = 0.99});
  ema.update(polo::Vectord::Zero(critic.num_parameters()));

  polo::CheckpointWriter w;
  polo::write_state(w, "actor", actor);
  polo::write_state(w, "critic", critic);
  polo::write_state(w, "sgd", sgd);
  polo::write_state(w, "ema", ema);
  polo::write_state(w, "rng", gen);
  w.save(path);

  const auto r = polo::CheckpointReader::load(path);
  polo::MLP<double> actor2({3, 8, 2});
  polo::MLP<double> critic2({3, 8, 1});
  polo::SGD<double> sgd2(actor2.num_parameters());
  polo::ParameterEMA<double> ema2(polo::Vectord::Zero(critic2.num_parameters()));
  polo::Rng gen2;
  polo::read_state(r, "actor", actor2);
  polo::read_state(r, "critic", critic2);
  polo::read_state(r, "sgd", sgd2);
  polo::read_state(r, "ema", ema2);
  polo::read_state(r, "rng", gen2);
  CHECK(actor2.parameters() == actor.parameters());
  CHECK(critic2.parameters() == critic.parameters());
  CHECK(sgd2.momentum_buffer() == sgd.momentum_buffer());
  CHECK(sgd2.steps() == 1);
  CHECK(sgd2.learning_rate() == 0.1);
  CHECK(ema2.shadow() == ema.shadow());
  CHECK(ema2.updates() == 1);
  CHECK(gen2 == gen);

  // The critic's state does not fit the actor.
  CHECK_THROWS_WITH(polo::read_state(r, "critic", actor2), Contains(path) &&
                                                               Contains("layer sizes [3, 8, 1]") &&
                                                               Contains("expected [3, 8, 2]"));
}

TEST_CASE("checkpoint refusals name the path and the problem", "[nn][checkpoint][errors]") {
  TempDir dir;
  const std::string good = dir.file("good.ckpt");
  Trained t;
  polo::save_checkpoint(good, t.net, t.adam, t.gen);
  const std::vector<char> bytes = read_bytes(good);
  REQUIRE(bytes.size() > 100);

  SECTION("missing file") {
    const std::string missing = dir.file("missing.ckpt");
    REQUIRE_THROWS_AS(polo::CheckpointReader::load(missing), polo::io_error);
    CHECK_THROWS_WITH(polo::CheckpointReader::load(missing),
                      Contains(missing) && Contains("cannot open"));
    try {
      (void)polo::CheckpointReader::load(missing);
    } catch (const polo::io_error& e) {
      CHECK(e.path() == missing);
    }
  }
  SECTION("not a checkpoint") {
    const std::string other = dir.file("other.bin");
    write_bytes(other, {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'});
    CHECK_THROWS_WITH(polo::CheckpointReader::load(other),
                      Contains(other) && Contains("bad magic"));
    write_bytes(other, {});
    CHECK_THROWS_WITH(polo::CheckpointReader::load(other), Contains("bad magic"));
  }
  SECTION("unsupported version") {
    auto v2 = bytes;
    v2[8] = 2;
    const std::string p = dir.file("v2.ckpt");
    write_bytes(p, v2);
    CHECK_THROWS_WITH(polo::CheckpointReader::load(p),
                      Contains(p) && Contains("unsupported format version 2"));
  }
  SECTION("truncated") {
    for (const std::size_t keep : {bytes.size() - 1, bytes.size() / 2, std::size_t{20}}) {
      const std::string p = dir.file("short.ckpt");
      write_bytes(p, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(keep)));
      INFO("kept " << keep << " of " << bytes.size() << " bytes");
      CHECK_THROWS_WITH(polo::CheckpointReader::load(p), Contains(p) && Contains("truncated"));
    }
  }
  SECTION("flipped byte") {
    // Anywhere after the header: the table, the payload or the checksum itself.
    for (const std::size_t at :
         {std::size_t{40}, bytes.size() / 2, bytes.size() - 10, bytes.size() - 1}) {
      auto bad = bytes;
      bad[at] = static_cast<char>(bad[at] ^ 0x10);
      const std::string p = dir.file("flipped.ckpt");
      write_bytes(p, bad);
      INFO("flipped byte " << at);
      CHECK_THROWS_WITH(polo::CheckpointReader::load(p),
                        Contains(p) && Contains("checksum mismatch"));
    }
  }
  SECTION("trailing bytes") {
    auto longer = bytes;
    longer.push_back('x');
    const std::string p = dir.file("long.ckpt");
    write_bytes(p, longer);
    CHECK_THROWS_WITH(polo::CheckpointReader::load(p), Contains(p) && Contains("corrupted"));
  }
  SECTION("missing entry, shape and dtype mismatch") {
    const auto r = polo::CheckpointReader::load(good);
    polo::Vectorf wrong(3);
    CHECK_THROWS_WITH(r.read("nope", wrong), Contains(good) && Contains("missing entry 'nope'") &&
                                                 Contains("model/parameters"));
    CHECK_THROWS_WITH(r.read("model/parameters", wrong),
                      Contains(good) && Contains("shape mismatch") && Contains("expected [3]") &&
                          Contains(fmt::format("found [{}]", t.net.num_parameters())));
    polo::Vectord as_double(t.net.num_parameters());
    CHECK_THROWS_WITH(r.read("model/parameters", as_double), Contains("dtype mismatch") &&
                                                                 Contains("expected float64") &&
                                                                 Contains("found float32"));
    CHECK_THROWS_WITH(r.read_scalar("optimizer/steps"), Contains("dtype mismatch"));
    polo::Rng gen;
    CHECK_THROWS_WITH(r.read_rng("model/parameters", gen), Contains("dtype mismatch"));
  }
  SECTION("a model of another shape") {
    polo::MLP<float> wide({4, 32, 2});
    polo::Adam<float> adam(wide.num_parameters());
    polo::Rng gen(5);
    CHECK_THROWS_WITH(
        polo::load_checkpoint(good, wide, adam, gen),
        Contains(good) && Contains("layer sizes [4, 16, 2]") && Contains("expected [4, 32, 2]"));
  }
  SECTION("load is all or nothing") {
    // The checkpoint's optimizer is Adam; loading it as SGD fails after the model part decoded.
    polo::MLP<float> net({4, 16, 2});
    net.parameters().setConstant(7.0f);
    polo::SGD<float> sgd(net.num_parameters());
    polo::Rng gen(5);
    const polo::Rng gen_before = gen;
    CHECK_THROWS_WITH(polo::load_checkpoint(good, net, sgd, gen),
                      Contains("missing entry 'optimizer/momentum_buffer'"));
    CHECK((net.parameters().array() == 7.0f).all());
    CHECK(gen == gen_before);
  }
  SECTION("unwritable path") {
    const std::string p = dir.file("no/such/dir/x.ckpt");
    CHECK_THROWS_WITH(polo::save_checkpoint(p, t.net, t.adam, t.gen),
                      Contains(p) && Contains("cannot open"));
  }
}
