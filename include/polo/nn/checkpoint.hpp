#pragma once
// Checkpoints: parameters, optimizer state and generator state in one binary file that is
// refused, never half-loaded, when it is truncated, corrupted or does not match the objects.
//
// Format (version 1, every integer little-endian, floats as their IEEE bits):
//
//     header   "POLOCKPT" | u32 version | u32 entry count | u64 table bytes | u64 payload bytes
//     table    per entry: u32 name length | name | u8 dtype | u8 rank | u64 dims[rank]
//                         | u64 payload offset | u64 byte count
//     payload  the entries' data
//     crc32    u32, IEEE CRC-32 of every byte before it
//
// Writes go to `path + ".tmp"`, then `std::rename` replaces `path`, so a crash mid-write leaves the
// previous checkpoint intact.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <locale>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/nn/crc32.hpp"
#include "polo/nn/ema.hpp"
#include "polo/nn/mlp.hpp"
#include "polo/nn/optim.hpp"

namespace polo {

/// Element type of a checkpoint entry (the values are the on-disk codes).
enum class DType : std::uint8_t { float32 = 1, float64 = 2, int64 = 3, bytes = 4 };

constexpr std::string_view dtype_name(DType t) noexcept {
  switch (t) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int64:
      return "int64";
    case DType::bytes:
      return "bytes";
  }
  return "unknown";
}

namespace detail::ckpt {

inline constexpr char magic[8] = {'P', 'O', 'L', 'O', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t version = 1;
inline constexpr std::size_t header_bytes = 8 + 4 + 4 + 8 + 8;

constexpr std::size_t dtype_size(DType t) noexcept {
  switch (t) {
    case DType::float32:
      return 4;
    case DType::float64:
    case DType::int64:
      return 8;
    case DType::bytes:
      return 1;
  }
  return 0;
}

constexpr bool valid_dtype(std::uint8_t code) noexcept {
  return code >= 1 && code <= 4;
}

template <class T>
constexpr DType dtype_of() noexcept {
  if constexpr (std::is_same_v<T, float>) {
    return DType::float32;
  } else if constexpr (std::is_same_v<T, double>) {
    return DType::float64;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return DType::int64;
  } else {
    static_assert(std::is_same_v<T, unsigned char>, "polo checkpoint: unsupported element type");
    return DType::bytes;
  }
}

/// Appends the little-endian bytes of an unsigned integer.
template <class U>
void put(std::vector<unsigned char>& out, U value) {
  for (std::size_t k = 0; k < sizeof(U); ++k) {
    out.push_back(static_cast<unsigned char>(value >> (8U * k)));
  }
}

template <class U>
U get(const unsigned char* p) noexcept {
  U value = 0;
  for (std::size_t k = 0; k < sizeof(U); ++k) {
    value |= static_cast<U>(static_cast<U>(p[k]) << (8U * k));
  }
  return value;
}

/// Little-endian encoding of one element (floats through their bits).
template <class T>
void put_element(std::vector<unsigned char>& out, T value) {
  if constexpr (std::is_same_v<T, float>) {
    put(out, std::bit_cast<std::uint32_t>(value));
  } else if constexpr (std::is_same_v<T, double>) {
    put(out, std::bit_cast<std::uint64_t>(value));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    put(out, static_cast<std::uint64_t>(value));
  } else {
    out.push_back(value);
  }
}

template <class T>
T get_element(const unsigned char* p) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    return std::bit_cast<float>(get<std::uint32_t>(p));
  } else if constexpr (std::is_same_v<T, double>) {
    return std::bit_cast<double>(get<std::uint64_t>(p));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return static_cast<std::int64_t>(get<std::uint64_t>(p));
  } else {
    return *p;
  }
}

struct Entry {
  DType dtype = DType::bytes;
  std::vector<std::uint64_t> dims;
  std::uint64_t offset = 0;         ///< into the payload
  std::vector<unsigned char> data;  ///< writer only: the encoded elements
  std::uint64_t bytes = 0;
};

inline std::string shape_string(const std::vector<std::uint64_t>& dims) {
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

/// Checkpoint names of an object's parts: "<prefix>/<part>".
inline std::string join(std::string_view prefix, std::string_view part) {
  return fmt::format("{}/{}", prefix, part);
}

inline std::string rng_text(const std::mt19937_64& gen) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os << gen;
  return os.str();
}

}  // namespace detail::ckpt

/// Collects named entries in memory, then writes them as one checkpoint file.
class CheckpointWriter {
 public:
  /// A float or double vector.
  template <class S>
  requires(std::is_same_v<S, float> ||
           std::is_same_v<S, double>) void add(std::string name, const Vector<S>& values) {
    add_elements<S>(std::move(name),
                    std::span<const S>(values.data(), static_cast<std::size_t>(values.size())));
  }

  /// A vector of 64-bit integers (shapes, counters).
  void add_integers(std::string name, std::span<const std::int64_t> values) {
    add_elements<std::int64_t>(std::move(name), values);
  }

  void add_scalar(std::string name, double value) {
    add_elements<double>(std::move(name), std::span<const double>(&value, 1));
  }

  void add_integer(std::string name, std::int64_t value) {
    add_elements<std::int64_t>(std::move(name), std::span<const std::int64_t>(&value, 1));
  }

  /// Free text (UTF-8 bytes), e.g. a configuration.
  void add_text(std::string name, std::string_view text) {
    add_elements<unsigned char>(
        std::move(name), std::span<const unsigned char>(
                             reinterpret_cast<const unsigned char*>(text.data()), text.size()));
  }

  /// A generator's full state (its standard text representation): the loaded generator continues
  /// the identical stream.
  void add_rng(std::string name, const std::mt19937_64& gen) {
    add_text(std::move(name), detail::ckpt::rng_text(gen));
  }

  [[nodiscard]] bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// Writes the checkpoint to `path` (through `path + ".tmp"` and a rename). Throws
  /// `polo::io_error` naming the path when the file cannot be written.
  void save(const std::string& path) const {
    namespace ck = detail::ckpt;
    std::vector<unsigned char> table;
    std::uint64_t payload_bytes = 0;
    for (const auto& [name, e] : entries_) {
      ck::put(table, static_cast<std::uint32_t>(name.size()));
      table.insert(table.end(), name.begin(), name.end());
      table.push_back(static_cast<unsigned char>(e.dtype));
      table.push_back(static_cast<unsigned char>(e.dims.size()));
      for (const auto d : e.dims) {
        ck::put(table, d);
      }
      ck::put(table, payload_bytes);
      ck::put(table, static_cast<std::uint64_t>(e.data.size()));
      payload_bytes += e.data.size();
    }
    std::vector<unsigned char> file;
    file.reserve(ck::header_bytes + table.size() + payload_bytes + 4);
    file.insert(file.end(), std::begin(ck::magic), std::end(ck::magic));
    ck::put(file, ck::version);
    ck::put(file, static_cast<std::uint32_t>(entries_.size()));
    ck::put(file, static_cast<std::uint64_t>(table.size()));
    ck::put(file, payload_bytes);
    file.insert(file.end(), table.begin(), table.end());
    for (const auto& [name, e] : entries_) {
      file.insert(file.end(), e.data.begin(), e.data.end());
    }
    ck::put(file, detail::crc32(file));

    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw io_error(path, fmt::format("cannot open '{}' for writing", tmp));
      out.write(reinterpret_cast<const char*>(file.data()),
                static_cast<std::streamsize>(file.size()));
      out.flush();
      if (!out) {
        out.close();
        std::remove(tmp.c_str());
        throw io_error(path, fmt::format("writing '{}' failed", tmp));
      }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw io_error(path, fmt::format("cannot rename '{}' to it", tmp));
    }
  }

 private:
  template <class T>
  void add_elements(std::string name, std::span<const T> values) {
    if (name.empty() || name.size() > 0xFFFFU) {
      detail::fail_argument("polo::CheckpointWriter::add", "name", "1 to 65535 bytes", name.size());
    }
    if (entries_.count(name) > 0) {
      detail::fail_argument("polo::CheckpointWriter::add", "name", "unique in the checkpoint",
                            fmt::format("'{}' twice", name));
    }
    detail::ckpt::Entry e;
    e.dtype = detail::ckpt::dtype_of<T>();
    e.dims = {static_cast<std::uint64_t>(values.size())};
    e.data.reserve(values.size() * sizeof(T));
    for (const T v : values) {
      detail::ckpt::put_element(e.data, v);
    }
    e.bytes = e.data.size();
    entries_.emplace(std::move(name), std::move(e));
  }

  std::map<std::string, detail::ckpt::Entry> entries_;
};

/// A checkpoint file read and verified (magic, version, sizes, CRC-32) as a whole by `load`;
/// entries are then decoded on request, each checked against the object it goes into.
class CheckpointReader {
 public:
  /// Reads and verifies `path`. Throws `polo::io_error` naming the path and the problem: cannot
  /// open, not a polo checkpoint (bad magic), unsupported version, truncated, checksum mismatch,
  /// malformed table.
  static CheckpointReader load(const std::string& path) {
    namespace ck = detail::ckpt;
    CheckpointReader r;
    r.path_ = path;
    {
      std::ifstream in(path, std::ios::binary);
      if (!in) throw io_error(path, "cannot open checkpoint for reading (missing or unreadable)");
      r.file_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (in.bad()) throw io_error(path, "reading the checkpoint failed");
    }
    const auto& f = r.file_;
    const std::size_t size = f.size();
    if (size < sizeof(ck::magic) || std::memcmp(f.data(), ck::magic, sizeof(ck::magic)) != 0) {
      throw io_error(path, "bad magic number: not a polo checkpoint");
    }
    if (size < ck::header_bytes + 4) {
      throw io_error(path, fmt::format("truncated: {} bytes, shorter than the {}-byte header", size,
                                       ck::header_bytes + 4));
    }
    const auto ver = ck::get<std::uint32_t>(f.data() + 8);
    if (ver != ck::version) {
      throw io_error(path, fmt::format("unsupported format version {} (this build reads {})", ver,
                                       ck::version));
    }
    const auto count = ck::get<std::uint32_t>(f.data() + 12);
    const auto table_bytes = ck::get<std::uint64_t>(f.data() + 16);
    const auto payload_bytes = ck::get<std::uint64_t>(f.data() + 24);
    // Compare without overflowing: each part is bounded by the file size first.
    if (table_bytes > size || payload_bytes > size ||
        ck::header_bytes + table_bytes + payload_bytes + 4 > size) {
      throw io_error(path, fmt::format("truncated: the header announces {} bytes, the file has {}",
                                       ck::header_bytes + table_bytes + payload_bytes + 4, size));
    }
    const std::size_t expected = ck::header_bytes + table_bytes + payload_bytes + 4;
    if (size != expected) {
      throw io_error(path,
                     fmt::format("corrupted: {} bytes, the header announces {}", size, expected));
    }
    const auto stored = ck::get<std::uint32_t>(f.data() + size - 4);
    const auto computed = detail::crc32(std::span<const unsigned char>(f.data(), size - 4));
    if (stored != computed) {
      throw io_error(path, fmt::format("checksum mismatch (corrupted file): stored {:#010x}, "
                                       "computed {:#010x}",
                                       stored, computed));
    }
    r.payload_ = ck::header_bytes + table_bytes;
    r.parse_table(count, ck::header_bytes, r.payload_, payload_bytes);
    return r;
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  /// The entry names, sorted.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_) {
      out.push_back(name);
    }
    return out;
  }
  [[nodiscard]] DType dtype(const std::string& name) const { return entry(name).dtype; }
  [[nodiscard]] std::vector<std::uint64_t> shape(const std::string& name) const {
    return entry(name).dims;
  }

  /// Decodes a float or double vector into `out`, whose current size must equal the entry's.
  template <class S>
  requires(std::is_same_v<S, float> || std::is_same_v<S, double>) void read(const std::string& name,
                                                                            Vector<S>& out) const {
    const auto& e =
        checked(name, detail::ckpt::dtype_of<S>(), static_cast<std::uint64_t>(out.size()));
    decode(e, out.data());
  }

  [[nodiscard]] std::vector<std::int64_t> read_integers(const std::string& name) const {
    const auto& e = checked(name, DType::int64);
    std::vector<std::int64_t> out(static_cast<std::size_t>(e.dims[0]));
    decode(e, out.data());
    return out;
  }

  [[nodiscard]] double read_scalar(const std::string& name) const {
    double v = 0.0;
    decode(checked(name, DType::float64, 1), &v);
    return v;
  }

  [[nodiscard]] std::int64_t read_integer(const std::string& name) const {
    std::int64_t v = 0;
    decode(checked(name, DType::int64, 1), &v);
    return v;
  }

  [[nodiscard]] std::string read_text(const std::string& name) const {
    const auto& e = checked(name, DType::bytes);
    const auto* p = file_.data() + payload_ + e.offset;
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(e.bytes));
  }

  /// Restores a generator saved by `add_rng`: it continues the identical stream.
  void read_rng(const std::string& name, std::mt19937_64& gen) const {
    std::istringstream is(read_text(name));
    is.imbue(std::locale::classic());
    std::mt19937_64 restored;
    is >> restored;
    if (is.fail()) {
      throw io_error(path_, fmt::format("entry '{}' is not a std::mt19937_64 state", name));
    }
    gen = restored;
  }

 private:
  CheckpointReader() = default;

  void parse_table(std::uint32_t count, std::size_t begin, std::size_t end,
                   std::uint64_t payload_bytes) {
    namespace ck = detail::ckpt;
    const auto malformed = [&](std::string_view what) {
      return io_error(path_, fmt::format("malformed entry table: {}", what));
    };
    std::size_t pos = begin;
    const auto need = [&](std::size_t n) {
      if (end - pos < n) throw malformed("it ends inside an entry");
    };
    for (std::uint32_t k = 0; k < count; ++k) {
      need(4);
      const auto name_len = ck::get<std::uint32_t>(file_.data() + pos);
      pos += 4;
      need(name_len);
      std::string name(reinterpret_cast<const char*>(file_.data() + pos), name_len);
      pos += name_len;
      need(2);
      const std::uint8_t code = file_[pos];
      const std::uint8_t rank = file_[pos + 1];
      pos += 2;
      if (!ck::valid_dtype(code)) {
        throw malformed(fmt::format("entry '{}' has dtype code {}", name, code));
      }
      ck::Entry e;
      e.dtype = static_cast<DType>(code);
      need(8 * (std::size_t{rank} + 2));
      std::uint64_t elements = 1;
      for (std::uint8_t d = 0; d < rank; ++d) {
        e.dims.push_back(ck::get<std::uint64_t>(file_.data() + pos));
        pos += 8;
        if (e.dims.back() > payload_bytes) {
          throw malformed(fmt::format("entry '{}' is too large", name));
        }
        elements *= e.dims.back();
        if (elements > payload_bytes) throw malformed(fmt::format("entry '{}' is too large", name));
      }
      e.offset = ck::get<std::uint64_t>(file_.data() + pos);
      e.bytes = ck::get<std::uint64_t>(file_.data() + pos + 8);
      pos += 16;
      if (e.bytes != elements * ck::dtype_size(e.dtype) || e.offset > payload_bytes ||
          e.bytes > payload_bytes - e.offset) {
        throw malformed(fmt::format("entry '{}' does not fit the payload", name));
      }
      if (!entries_.emplace(std::move(name), std::move(e)).second) {
        throw malformed("a name appears twice");
      }
    }
    if (pos != end) throw malformed("bytes left after the last entry");
  }

  const detail::ckpt::Entry& entry(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) {
      throw io_error(path_, fmt::format("missing entry '{}' (the checkpoint holds: {})", name,
                                        fmt::join(names(), ", ")));
    }
    return it->second;
  }

  /// The entry, required to be a vector of `type` (of `size` elements unless size is -1).
  const detail::ckpt::Entry& checked(const std::string& name, DType type,
                                     std::int64_t size = -1) const {
    const auto& e = entry(name);
    if (e.dtype != type) {
      throw io_error(path_, fmt::format("dtype mismatch for entry '{}': expected {}, found {}",
                                        name, dtype_name(type), dtype_name(e.dtype)));
    }
    const bool vector_shape = e.dims.size() == 1;
    if (!vector_shape || (size >= 0 && e.dims[0] != static_cast<std::uint64_t>(size))) {
      const std::string want = size >= 0 ? fmt::format("[{}]", size) : std::string("a vector");
      throw io_error(path_, fmt::format("shape mismatch for entry '{}': expected {}, found {}",
                                        name, want, detail::ckpt::shape_string(e.dims)));
    }
    return e;
  }

  template <class T>
  void decode(const detail::ckpt::Entry& e, T* out) const {
    const unsigned char* p = file_.data() + payload_ + e.offset;
    const auto n = static_cast<std::size_t>(e.dims[0]);
    for (std::size_t k = 0; k < n; ++k) {
      out[k] = detail::ckpt::get_element<T>(p + k * sizeof(T));
    }
  }

  std::string path_;
  std::vector<unsigned char> file_;
  std::size_t payload_ = 0;
  std::map<std::string, detail::ckpt::Entry> entries_;
};

// ---- the state of polo's own components ------------------------------------------------------
//
// `write_state(writer, name, x)` adds x's state under "<name>/..."; `read_state(reader, name, x)`
// restores it, all or nothing: every part is decoded and checked before x changes.

/// An MLP: "<name>/parameters" and "<name>/layer_sizes" (checked on load).
template <class S>
void write_state(CheckpointWriter& w, std::string_view name, const MLP<S>& net) {
  const auto& sizes = net.layer_sizes();
  const std::vector<std::int64_t> widths(sizes.begin(), sizes.end());
  w.add_integers(detail::ckpt::join(name, "layer_sizes"), widths);
  w.add(detail::ckpt::join(name, "parameters"), net.parameters());
}

template <class S>
void read_state(const CheckpointReader& r, std::string_view name, MLP<S>& net) {
  const auto widths = r.read_integers(detail::ckpt::join(name, "layer_sizes"));
  const auto& sizes = net.layer_sizes();
  if (!std::equal(widths.begin(), widths.end(), sizes.begin(), sizes.end())) {
    throw io_error(r.path(), fmt::format("model '{}' has layer sizes [{}] in the checkpoint, "
                                         "expected [{}]",
                                         name, fmt::join(widths, ", "), fmt::join(sizes, ", ")));
  }
  Vector<S> params(net.num_parameters());
  r.read(detail::ckpt::join(name, "parameters"), params);
  net.parameters() = std::move(params);
}

/// Adam / AdamW: "<name>/exp_avg", "<name>/exp_avg_sq", "<name>/steps", "<name>/learning_rate".
template <class S, class O>
void write_state(CheckpointWriter& w, std::string_view name, const AdamType<S, O>& opt) {
  w.add(detail::ckpt::join(name, "exp_avg"), opt.exp_avg());
  w.add(detail::ckpt::join(name, "exp_avg_sq"), opt.exp_avg_sq());
  w.add_integer(detail::ckpt::join(name, "steps"), static_cast<std::int64_t>(opt.steps()));
  w.add_scalar(detail::ckpt::join(name, "learning_rate"), opt.learning_rate());
}

template <class S, class O>
void read_state(const CheckpointReader& r, std::string_view name, AdamType<S, O>& opt) {
  Vector<S> m(opt.num_parameters());
  Vector<S> v(opt.num_parameters());
  r.read(detail::ckpt::join(name, "exp_avg"), m);
  r.read(detail::ckpt::join(name, "exp_avg_sq"), v);
  const auto steps = r.read_integer(detail::ckpt::join(name, "steps"));
  const double lr = r.read_scalar(detail::ckpt::join(name, "learning_rate"));
  if (steps < 0 || !(lr >= 0.0)) {
    throw io_error(
        r.path(), fmt::format("optimizer '{}' has steps {} and learning rate {}", name, steps, lr));
  }
  opt.exp_avg() = std::move(m);
  opt.exp_avg_sq() = std::move(v);
  opt.set_steps(static_cast<Index>(steps));
  opt.set_learning_rate(lr);
}

/// SGD: "<name>/momentum_buffer", "<name>/steps", "<name>/learning_rate".
template <class S>
void write_state(CheckpointWriter& w, std::string_view name, const SGD<S>& opt) {
  w.add(detail::ckpt::join(name, "momentum_buffer"), opt.momentum_buffer());
  w.add_integer(detail::ckpt::join(name, "steps"), static_cast<std::int64_t>(opt.steps()));
  w.add_scalar(detail::ckpt::join(name, "learning_rate"), opt.learning_rate());
}

template <class S>
void read_state(const CheckpointReader& r, std::string_view name, SGD<S>& opt) {
  Vector<S> buf(opt.num_parameters());
  r.read(detail::ckpt::join(name, "momentum_buffer"), buf);
  const auto steps = r.read_integer(detail::ckpt::join(name, "steps"));
  const double lr = r.read_scalar(detail::ckpt::join(name, "learning_rate"));
  if (steps < 0 || !(lr >= 0.0)) {
    throw io_error(
        r.path(), fmt::format("optimizer '{}' has steps {} and learning rate {}", name, steps, lr));
  }
  opt.momentum_buffer() = std::move(buf);
  opt.set_steps(static_cast<Index>(steps));
  opt.set_learning_rate(lr);
}

/// A parameter EMA: "<name>/shadow", "<name>/updates".
template <class S>
void write_state(CheckpointWriter& w, std::string_view name, const ParameterEMA<S>& ema) {
  w.add(detail::ckpt::join(name, "shadow"), ema.shadow());
  w.add_integer(detail::ckpt::join(name, "updates"), static_cast<std::int64_t>(ema.updates()));
}

template <class S>
void read_state(const CheckpointReader& r, std::string_view name, ParameterEMA<S>& ema) {
  Vector<S> shadow(ema.shadow().size());
  r.read(detail::ckpt::join(name, "shadow"), shadow);
  const auto updates = r.read_integer(detail::ckpt::join(name, "updates"));
  if (updates < 0) {
    throw io_error(r.path(), fmt::format("EMA '{}' has {} updates", name, updates));
  }
  ema.shadow() = std::move(shadow);
  ema.set_updates(static_cast<Index>(updates));
}

/// A generator: "<name>" holds its state.
inline void write_state(CheckpointWriter& w, std::string_view name, const std::mt19937_64& gen) {
  w.add_rng(std::string(name), gen);
}

inline void read_state(const CheckpointReader& r, std::string_view name, std::mt19937_64& gen) {
  r.read_rng(std::string(name), gen);
}

/// Saves a model, its optimizer and the generator as "model/...", "optimizer/..." and "rng".
/// For more parts (an actor and a critic, an EMA ...) call `write_state` on a CheckpointWriter:
///
///     polo::CheckpointWriter w;
///     polo::write_state(w, "actor", actor);
///     polo::write_state(w, "critic", critic);
///     polo::write_state(w, "adam", adam);
///     polo::write_state(w, "rng", gen);
///     w.save(path);
template <class S, class Opt>
void save_checkpoint(const std::string& path, const MLP<S>& model, const Opt& optimizer,
                     const std::mt19937_64& gen) {
  CheckpointWriter w;
  write_state(w, "model", model);
  write_state(w, "optimizer", optimizer);
  write_state(w, "rng", gen);
  w.save(path);
}

/// Restores what `save_checkpoint` wrote. All or nothing: on any error (`polo::io_error`) the
/// model, optimizer and generator are unchanged.
template <class S, class Opt>
void load_checkpoint(const std::string& path, MLP<S>& model, Opt& optimizer, std::mt19937_64& gen) {
  const CheckpointReader r = CheckpointReader::load(path);
  MLP<S> m = model;
  Opt o = optimizer;
  std::mt19937_64 g = gen;
  read_state(r, "model", m);
  read_state(r, "optimizer", o);
  read_state(r, "rng", g);
  model = std::move(m);
  optimizer = std::move(o);
  gen = g;
}

}  // namespace polo
