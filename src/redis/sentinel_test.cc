// The Sentinel client and the replicated Redis against real redis-server processes: a primary,
// two replicas and three Sentinels on free loopback ports in a private temp dir, always stopped
// (SentinelCluster's destructor), also when a test fails.
#include "redis/sentinel.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "redis/sentinel_cluster.h"
#include "test_util.h"

namespace wc::redis {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kPassword = "s3cret pass";

class SentinelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<SentinelCluster>(SentinelClusterOptions{
        .dir = dir_.path() + "/ha", .password = kPassword, .down_after = milliseconds(1000)});
  }
  // Nothing to keep: SIGKILL saves the graceful stop's ~1 s per test.
  void TearDown() override { cluster_->KillAll(); }
  SentinelClient Client() const { return SentinelClient(cluster_->sentinel_options()); }
  // Waits until Sentinel names a primary other than `old` that answers ROLE as one.
  int WaitNewPrimary(int old, milliseconds limit = milliseconds(30000)) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int p = cluster_->Primary();
      if (p >= 0 && p != old) return p;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return -1;
  }

  testing::TempDir dir_;
  std::unique_ptr<SentinelCluster> cluster_;
};

TEST(HostPortsTest, ParsesAndJoinsLists) {
  auto list = ParseHostPorts("127.0.0.1:26379,sentinel-b:26380");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], (HostPort{"127.0.0.1", 26379}));
  EXPECT_EQ(list[1], (HostPort{"sentinel-b", 26380}));
  EXPECT_EQ(JoinHostPorts(list), "127.0.0.1:26379,sentinel-b:26380");
  for (const char* bad : {"", "host", "host:", ":1", "h:0", "h:65536", "h:1,", "h:1x", "a:1,,b:2"})
    EXPECT_THROW(ParseHostPorts(bad), std::invalid_argument) << bad;
}

// Held-out pass: "[::1]:1" became host "[::1]" (connected to as "[[::1]]:1": an IPv6 Sentinel
// could not be used); "::1:26379" was host "::1"; ":pw@127.0.0.1:1" was a host name (echoed).
TEST(HostPortsTest, BracketedIpv6AndNoUserInfo) {
  auto list = ParseHostPorts("[::1]:26379,127.0.0.1:26380,[fe80::1%eth0]:1");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0], (HostPort{"::1", 26379}));
  EXPECT_EQ(list[2], (HostPort{"fe80::1%eth0", 1}));
  EXPECT_EQ(list[0].str(), "[::1]:26379");
  EXPECT_EQ(JoinHostPorts(list), "[::1]:26379,127.0.0.1:26380,[fe80::1%eth0]:1");
  EXPECT_EQ(ParseHostPorts(JoinHostPorts(list)), list);
  for (const char* bad : {"::1:26379", "[::1]", "[::1]:", "[]:1", "[::1]x:1", "[::1:1"})
    EXPECT_THROW(ParseHostPorts(bad), std::invalid_argument) << bad;
  for (const char* bad : {":s3cret@127.0.0.1:1", "u:s3cret@h:1", "h:1,:s3cret@h:2", "redis://h:1",
                          "redis://:s3cret@h:1"}) {
    try {
      ParseHostPorts(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    }
  }
}

TEST_F(SentinelTest, FindsThePrimaryAndItsReplicas) {
  Connection c = Client().ConnectPrimary(cluster_->base_options());
  EXPECT_EQ(RoleOf(c), Role::kPrimary);
  EXPECT_EQ(cluster_->NodeAt({c.options().host, c.options().port}), 0);
  EXPECT_EQ(cluster_->Primary(), 0);
  auto replicas = Client().Replicas(kPassword);
  EXPECT_EQ(replicas.size(), 2u);
  for (const HostPort& r : replicas) EXPECT_GT(cluster_->NodeAt(r), 0);
  // Writes reach both replicas (WAIT counts the replicas that acknowledged them).
  c.Command({"SET", "k", "v"});
  EXPECT_EQ(c.Command({"WAIT", "2", "5000"}).integer(), 2);
  Connection replica(cluster_->node(1).connect_options());
  EXPECT_EQ(RoleOf(replica), Role::kReplica);
  EXPECT_EQ(replica.Command({"GET", "k"}).str(), "v");
  // A replica refuses writes with READONLY, the reply that makes clients ask Sentinel again.
  try {
    replica.Command({"SET", "k", "w"});
    FAIL() << "a replica accepted a write";
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(e.prefix(), "READONLY");
  }
}

TEST_F(SentinelTest, SecretsStayInPrivateFiles) {
  for (size_t i = 0; i < cluster_->nodes(); ++i) {
    struct stat st {};
    ASSERT_EQ(::stat(cluster_->node(i).dir().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat((cluster_->node(i).dir() + "/redis.conf").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  for (size_t i = 0; i < cluster_->sentinel_count(); ++i) {
    struct stat st {};
    // The Sentinel rewrote its config (it learnt replicas and peers): still private.
    ASSERT_EQ(::stat((cluster_->sentinel(i).dir() + "/sentinel.conf").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::ifstream cmdline("/proc/" + std::to_string(cluster_->sentinel(i).pid()) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), {});
    EXPECT_EQ(args.find("s3cret"), std::string::npos);
  }
}

TEST_F(SentinelTest, WrongPasswordIsRefusedAndNoSentinelIsAnIoError) {
  EXPECT_THROW(Client().AskPrimary("wrong"), RedisReplyError);
  SentinelOptions nobody{.sentinels = {{"127.0.0.1", FreeLoopbackPort()}}, .master_name = "x"};
  EXPECT_THROW(SentinelClient(nobody).ConnectPrimary(cluster_->base_options()), RedisIoError);
  SentinelOptions unknown = cluster_->sentinel_options();
  unknown.master_name = "not-monitored";
  EXPECT_THROW(SentinelClient(unknown).AskPrimary(kPassword), RedisIoError);
}

TEST_F(SentinelTest, PrimaryKilledAReplicaIsPromotedWithTheAcknowledgedWrites) {
  Connection c = Client().ConnectPrimary(cluster_->base_options());
  for (int i = 0; i < 100; ++i) c.Command({"INCR", "n"});
  ASSERT_EQ(c.Command({"WAIT", "2", "5000"}).integer(), 2);
  auto killed = Clock::now();
  cluster_->Kill(0);
  EXPECT_THROW(c.Command({"INCR", "n"}), RedisIoError);
  int promoted = WaitNewPrimary(0);
  ASSERT_GT(promoted, 0) << "no failover";
  double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  EXPECT_LT(seconds, 20);
  // Clients re-resolve: the new primary has every write WAIT confirmed, and takes new ones.
  Connection now = Client().ConnectPrimary(cluster_->base_options());
  EXPECT_EQ(cluster_->NodeAt({now.options().host, now.options().port}), promoted);
  EXPECT_EQ(now.Command({"GET", "n"}).str(), "100");
  // Until Sentinel has pointed the other replica at it, the new primary refuses writes
  // (min-replicas-to-write 1): NOREPLICAS, which clients retry.
  int64_t n = 0;
  while (n == 0 && Clock::now() - killed < milliseconds(30000)) {
    try {
      n = now.Command({"INCR", "n"}).integer();
    } catch (const RedisReplyError& e) {
      ASSERT_EQ(e.prefix(), "NOREPLICAS");
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  EXPECT_EQ(n, 101);
  double writable = std::chrono::duration<double>(Clock::now() - killed).count();
  // The killed primary comes back as a replica of the new one and catches up.
  cluster_->Start(0, promoted);
  Connection old(cluster_->node(0).connect_options());
  EXPECT_EQ(RoleOf(old), Role::kReplica);
  EXPECT_EQ(now.Command({"WAIT", "2", "10000"}).integer(), 2);
  EXPECT_EQ(old.Command({"GET", "n"}).str(), "101");
  std::printf("     new primary %.2f s after the SIGKILL, writable after %.2f s\n", seconds,
              writable);
}

TEST_F(SentinelTest, APrimaryWithoutReplicasRefusesWrites) {
  // min-replicas-to-write 1: cut off from both replicas (here: they are gone), the primary
  // refuses writes instead of taking writes a failover would discard.
  Connection c = Client().ConnectPrimary(cluster_->base_options());
  cluster_->Kill(1);
  cluster_->Kill(2);
  auto deadline = Clock::now() + milliseconds(20000);
  std::string error;
  while (Clock::now() < deadline && error.empty()) {
    try {
      c.Command({"SET", "k", "v"});
      std::this_thread::sleep_for(milliseconds(200));
    } catch (const RedisReplyError& e) {
      error = e.prefix();
    }
  }
  EXPECT_EQ(error, "NOREPLICAS");
}

}  // namespace
}  // namespace wc::redis
