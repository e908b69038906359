// Publishing a whole result set (word -> count) into a Redis sorted set: one RESTORE of a
// client-built DUMP payload (redis/zset_dump.h) against ZADD batches (issue 13).
//
//   build/publish_bench                          # 1.02 M members
//   WC_BENCH_MEMBERS=100000 build/publish_bench  # smaller set
//
// Starts its own redis-server (PATH) on a free loopback port in a temp dir. Rows:
//   SortForZsetDump   client: 1.02 M shuffled entries into Redis's DUMP order
//   EncodeZsetDump    client: payload of the sorted entries (CRC64 included)
//   Crc64Redis        client: the checksum alone over a payload-sized buffer
//   Restore/order:0|1 RESTORE into a new key, payload in DUMP order (1) or shuffled (0);
//                     redis_ms = the server's own time for the command (INFO commandstats)
//   ZaddBatches       ZADD, 1000 members per command sorted ascending, 16 commands in flight
//                     (the worker's current reduce publication)
// Wall times (real_time) include the transfer over loopback.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "redis/connection.h"
#include "redis/redis_server.h"
#include "redis/zset_dump.h"

namespace {

using wc::redis::ZsetEntry;

struct Data {
  std::vector<std::string> members;
  std::vector<ZsetEntry> shuffled;  // as a hash table hands them out
  std::vector<ZsetEntry> sorted;    // Redis's DUMP order
  std::string payload;
};

// Word-like distinct members (2% numbers, 1% over 20 bytes), Zipf-like counts: most are 1.
const Data& GetData() {
  static const Data d = [] {
    const char* env = std::getenv("WC_BENCH_MEMBERS");
    const size_t n = env ? std::strtoull(env, nullptr, 10) : 1020000;
    Data d;
    d.members.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (i % 50 == 0) {
        d.members.push_back(std::to_string(i));
        continue;
      }
      uint32_t h = static_cast<uint32_t>(i) * 2654435761u;  // a bijection: distinct words
      std::string w;
      do {
        w.push_back(static_cast<char>('a' + h % 26));
        h /= 26;
      } while (h);
      if (i % 97 == 0) w += "-" + std::string(24, 'x');
      d.members.push_back(std::move(w));
    }
    for (size_t i = 0; i < n; ++i) {
      d.shuffled.push_back({d.members[i], std::max(1.0, std::floor(300000.0 / double(i + 1)))});
    }
    std::mt19937 rng(11);
    std::shuffle(d.shuffled.begin(), d.shuffled.end(), rng);
    d.sorted = d.shuffled;
    wc::redis::SortForZsetDump(d.sorted);
    d.payload = wc::redis::EncodeZsetDump(d.sorted);
    return d;
  }();
  return d;
}

struct Server {
  std::string dir;
  std::unique_ptr<wc::redis::RedisServer> server;
  std::unique_ptr<wc::redis::Connection> conn;
  Server() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "wc_publish_bench.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    server = std::make_unique<wc::redis::RedisServer>(wc::redis::RedisServerOptions{.dir = dir});
    conn = std::make_unique<wc::redis::Connection>(server->connect_options());
  }
  ~Server() {
    conn.reset();
    server.reset();  // stops redis-server
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

wc::redis::Connection& Redis() {
  static Server s;
  return *s.conn;
}

double CommandMs(const char* name) {
  std::string f = wc::redis::InfoField(Redis().Command({"INFO", "commandstats"}).str(), name);
  size_t p = f.find("usec=");
  return p == std::string::npos ? -1.0 : std::stod(f.substr(p + 5)) / 1000.0;
}

void BM_SortForZsetDump(benchmark::State& state) {
  const Data& d = GetData();
  std::vector<ZsetEntry> v;
  for (auto _ : state) {
    state.PauseTiming();
    v = d.shuffled;
    state.ResumeTiming();
    wc::redis::SortForZsetDump(v);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(v.size()));
}
BENCHMARK(BM_SortForZsetDump)->Unit(benchmark::kMillisecond);

void BM_EncodeZsetDump(benchmark::State& state) {
  const Data& d = GetData();
  for (auto _ : state) {
    std::string p = wc::redis::EncodeZsetDump(d.sorted);
    benchmark::DoNotOptimize(p.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(d.sorted.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(d.payload.size()));
}
BENCHMARK(BM_EncodeZsetDump)->Unit(benchmark::kMillisecond);

void BM_Crc64Redis(benchmark::State& state) {
  const Data& d = GetData();
  for (auto _ : state) benchmark::DoNotOptimize(wc::redis::Crc64Redis(0, d.payload));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(d.payload.size()));
}
BENCHMARK(BM_Crc64Redis)->Unit(benchmark::kMillisecond);

void BM_Restore(benchmark::State& state) {
  const Data& d = GetData();
  const std::string payload = state.range(0) ? d.payload : wc::redis::EncodeZsetDump(d.shuffled);
  double redis_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Redis().Command({"DEL", "counts"});
    Redis().Command({"CONFIG", "RESETSTAT"});
    state.ResumeTiming();
    Redis().Command({"RESTORE", "counts", "0", payload, "REPLACE"});
    state.PauseTiming();
    redis_ms += CommandMs("cmdstat_restore");
    state.ResumeTiming();
  }
  state.counters["redis_ms"] = redis_ms / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(d.sorted.size()));
}
BENCHMARK(BM_Restore)
    ->ArgName("order")
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ZaddBatches(benchmark::State& state) {
  const Data& d = GetData();
  const std::vector<ZsetEntry> ascending(d.sorted.rbegin(), d.sorted.rend());
  double redis_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Redis().Command({"DEL", "counts"});
    Redis().Command({"CONFIG", "RESETSTAT"});
    state.ResumeTiming();
    size_t sent = 0, answered = 0;
    for (size_t lo = 0; lo < ascending.size(); lo += 1000) {
      wc::redis::Args z{"ZADD", "counts"};
      z.reserve(2002);
      for (size_t k = lo; k < std::min(ascending.size(), lo + 1000); ++k) {
        z.push_back(std::to_string(static_cast<uint64_t>(ascending[k].score)));
        z.emplace_back(ascending[k].member);
      }
      Redis().Append(z);
      if (++sent - answered > 16) {
        Redis().GetReply();
        ++answered;
      }
    }
    for (; answered < sent; ++answered) Redis().GetReply();
    state.PauseTiming();
    redis_ms += CommandMs("cmdstat_zadd");
    state.ResumeTiming();
  }
  state.counters["redis_ms"] = redis_ms / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(d.sorted.size()));
}
BENCHMARK(BM_ZaddBatches)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
