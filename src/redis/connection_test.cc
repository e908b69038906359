#include "redis/connection.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>

#include "redis_fixture.h"

namespace wc::redis {
namespace {

TEST(RedisUrl, ParsesHostAndPort) {
  ConnectOptions o = ParseRedisUrl("redis://127.0.0.1:7000");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.password, "");
  EXPECT_EQ(ParseRedisUrl("redis://localhost").port, 6379);
  EXPECT_EQ(ToUrl(o), "redis://127.0.0.1:7000");
  o.password = "s3cret";
  EXPECT_EQ(ToUrl(o), "redis://127.0.0.1:7000");  // never the password
  EXPECT_THROW(ParseRedisUrl("http://x:1"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://x:0"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://x:12ab"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://x:+1"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://x: 1"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://x:"), std::invalid_argument);
}

// Held-out pass: redis://127.0.0.1:6379:1 was host "127.0.0.1:6379", port 1 (exit 4 "cannot
// connect to [127.0.0.1:6379]:1").
TEST(RedisUrl, RefusesMoreThanOneColonOutsideBrackets) {
  for (const char* bad : {"redis://127.0.0.1:6379:1", "redis://::1", "redis://::1:6379"}) {
    try {
      ParseRedisUrl(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("more than one ':'"), std::string::npos) << e.what();
    }
  }
}

// Held-out pass: unix://:pw@/path logged in with "pw" (over $WC_REDIS_PASSWORD) and
// unix://user:pw@/path dropped the user; a password goes in no URL of any form, and is never
// echoed, nor is a query or fragment.
TEST(RedisUrl, RefusesUserInfoAndQueriesInEveryFormWithoutEchoingThem) {
  for (const char* bad :
       {"redis://:s3cret@127.0.0.1:7000", "redis://user:s3cret@h:1", "redis://s3cret@h",
        "redis://:pa/s3cret@h:1", "redis://:s3cret@[::1]:1", "unix://:s3cret@/tmp/r.sock",
        "unix://user:s3cret@/tmp/r.sock", "unix://:s3@cret@/tmp/r.sock", "unix://s3cret@x",
        "rediss://:s3cret@h:1", "http://u:s3cret@h", ":s3cret@127.0.0.1:1", "u:s3cret@h:1",
        "redis://h:1?password=s3cret", "redis://h:1#s3cret", "unix:///tmp/r.sock?password=s3cret",
        "rediss://h:1?s3cret"}) {
    try {
      ParseRedisUrl(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("cret"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(RedisUrlUserInfoEnd("unix://:pw@/tmp/r.sock"), 10u);
  EXPECT_EQ(RedisUrlUserInfoEnd("unix:///tmp/a@b.sock"), std::string::npos);
  EXPECT_EQ(RedisUrlUserInfoEnd(":pw@h:1"), 3u);
  EXPECT_EQ(RedisUrlUserInfoEnd("redis://h:1"), std::string::npos);
  // A socket path may hold '@'.
  EXPECT_EQ(ParseRedisUrl("unix:///tmp/a@b.sock").unix_socket, "/tmp/a@b.sock");
}

// Held-out pass: redis://[::1]:P failed "Name or service not known" (the brackets were taken
// for part of the host name).
TEST(RedisUrl, ParsesBracketedIpv6Addresses) {
  ConnectOptions o = ParseRedisUrl("redis://[::1]:7000");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.address(), "[::1]:7000");
  EXPECT_EQ(ToUrl(o), "redis://[::1]:7000");
  EXPECT_EQ(ParseRedisUrl(ToUrl(o)).host, "::1");
  EXPECT_EQ(ParseRedisUrl("redis://[fe80::1%eth0]").port, 6379);
  EXPECT_THROW(ParseRedisUrl("redis://[::1"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://[]:1"), std::invalid_argument);
  EXPECT_THROW(ParseRedisUrl("redis://[::1]x:1"), std::invalid_argument);
}

TEST(RedisUrl, ParsesUnixSocketPaths) {
  ConnectOptions o = ParseRedisUrl("unix:///run/a b/redis.sock");
  EXPECT_EQ(o.unix_socket, "/run/a b/redis.sock");
  EXPECT_EQ(o.password, "");
  EXPECT_EQ(o.address(), "/run/a b/redis.sock");
  EXPECT_EQ(ToUrl(o), "unix:///run/a b/redis.sock");
  o.password = "s3cret";
  EXPECT_EQ(ToUrl(o), "unix:///run/a b/redis.sock");  // never the password
  EXPECT_THROW(ParseRedisUrl("unix://relative.sock"), std::invalid_argument);
  // hiredis and redis-server would cut a longer path silently and use another socket
  EXPECT_THROW(ParseRedisUrl("unix:///" + std::string(kMaxUnixSocketPath, 'x')),
               std::invalid_argument);
  EXPECT_NO_THROW(ParseRedisUrl("unix:///" + std::string(kMaxUnixSocketPath - 1, 'x')));
}

// A server on a unix socket only: reached there with its password, no TCP listener at all,
// the socket 0700, and a crash (which leaves the socket file behind) and restart reuse it.
TEST(RedisUnixSocket, ServerListensOnlyOnItsPrivateSocket) {
  std::signal(SIGPIPE, SIG_IGN);  // as wordcount's main: a write to a dead server is EPIPE
  testing::TempDir dir;
  std::string socket = dir.path() + "/with space/redis.sock";
  std::filesystem::create_directories(dir.path() + "/with space");
  RedisServer server({.dir = dir.path() + "/redis", .unix_socket = socket, .password = "pw"});
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.connect_options().unix_socket, socket);
  Connection c(server.connect_options());
  EXPECT_EQ(c.Command({"SET", "k", "v"}).str(), "OK");
  EXPECT_EQ(c.Command({"CONFIG", "GET", "port"})[1].str(), "0");
  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  c.Command({"SAVE"});
  server.Kill();
  EXPECT_THROW(c.Command({"PING"}), RedisIoError);
  server.Start();
  Connection again(server.connect_options());
  EXPECT_EQ(again.Command({"GET", "k"}).str(), "v");
  ConnectOptions wrong = server.connect_options();
  wrong.password = "nope";
  EXPECT_THROW(Connection bad(wrong), RedisReplyError);
}

class ConnectionTest : public testing::RedisTest {};

TEST_F(ConnectionTest, BinarySafeArguments) {
  std::string value("a\0b c\r\n", 7);
  conn().Command({"SET", "k", value});
  EXPECT_EQ(conn().Command({"GET", "k"}).str(), value);
}

TEST_F(ConnectionTest, ErrorReplyKeepsPrefixAndConnection) {
  conn().Command({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  try {
    conn().Command({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
    FAIL();
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(e.prefix(), "BUSYGROUP");
  }
  EXPECT_EQ(conn().Command({"PING"}).str(), "PONG");
}

TEST_F(ConnectionTest, TypeMismatchNamesBothTypes) {
  Reply r = conn().Command({"PING"});
  try {
    r.integer();
    FAIL();
  } catch (const RedisProtocolError& e) {
    EXPECT_STREQ(e.what(), "expected a reply of type integer, got status");
  }
}

TEST_F(ConnectionTest, PipelineReturnsErrorsInPlace) {
  conn().Append({"SET", "a", "1"});
  conn().Append({"INCR", "nope", "extra"});
  conn().Append({"GET", "a"});
  EXPECT_EQ(conn().GetReply().str(), "OK");
  EXPECT_TRUE(Connection::IsError(conn().GetReply()));
  EXPECT_EQ(conn().GetReply().str(), "1");
}

TEST_F(ConnectionTest, ServerCrashIsAnIoErrorAndTheConnectionIsDead) {
  server().Kill();
  EXPECT_THROW(conn().Command({"PING"}), RedisIoError);
  EXPECT_TRUE(conn().broken());
  EXPECT_THROW(conn().Command({"PING"}), RedisIoError);
  EXPECT_THROW(Connection c(server().connect_options()), RedisIoError);
  server().Start();  // same port and dir
  Connection again(server().connect_options());
  EXPECT_EQ(again.Command({"PING"}).str(), "PONG");
}

// Held-out pass: "a worker gave up on Redis: Redis: Redis /.../redis.sock: no reply: Broken
// pipe". An I/O error names the server already; a reply error gets "Redis: " once.
TEST_F(ConnectionTest, ADescribedErrorSaysRedisOnce) {
  try {
    conn().Command({"NOSUCHCOMMAND"});
    FAIL();
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(Describe(e).rfind("Redis: ERR ", 0), 0u) << Describe(e);
  }
  server().Kill();
  try {
    conn().Command({"PING"});
    FAIL();
  } catch (const RedisIoError& e) {
    EXPECT_EQ(Describe(e).rfind("Redis ", 0), 0u) << Describe(e);
    EXPECT_EQ(Describe(e).find("Redis: Redis"), std::string::npos) << Describe(e);
    EXPECT_EQ(Describe(e), e.what());
  }
  server().Start();
}

TEST(RedisAuth, PasswordIsRequiredAndUsed) {
  testing::TempDir dir;
  RedisServer server({.dir = dir.path(), .password = "pw"});
  Connection ok(server.connect_options());
  EXPECT_EQ(ok.Command({"PING"}).str(), "PONG");
  // Regression: a failed AUTH in the constructor leaked the hiredis context (LeakSanitizer).
  ConnectOptions wrong = server.connect_options();
  wrong.password = "nope";
  try {
    Connection bad(wrong);
    FAIL();
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(e.prefix(), "WRONGPASS");
  }
  ConnectOptions no_pw = server.connect_options();
  no_pw.password.clear();
  // Found out when connecting (issue 12: `status` without the password printed "ERR Protocol
  // error: unauthenticated multibulk length", and run retried it as a lost connection).
  try {
    Connection anon(no_pw);
    FAIL();
  } catch (const RedisAuthError& e) {
    EXPECT_EQ(e.prefix(), "NOAUTH");
    EXPECT_EQ(std::string(e.what()),
              fmt::format("Redis at 127.0.0.1:{} requires a password (NOAUTH Authentication "
                          "required.)",
                          server.port()));
    EXPECT_FALSE(e.transient());
  }
  try {
    Connection bad(wrong);
    FAIL();
  } catch (const RedisAuthError& e) {
    EXPECT_NE(std::string(e.what()).find("refused the password (WRONGPASS"), std::string::npos);
  }
}

// An error answer to AUTH that is not about the password is not "refused the password" (which
// is exit 2, a usage error): a full server (maxclients) refuses the connection, retried like an
// unreachable one; it is named with what Redis said.
TEST(RedisAuth, AFullServerIsNotARefusedPassword) {
  testing::TempDir dir;
  RedisServer server({.dir = dir.path(), .password = "pw", .extra_args = {"--maxclients", "1"}});
  Connection first(server.connect_options());
  try {
    Connection second(server.connect_options());
    FAIL();
  } catch (const RedisAuthError& e) {
    ADD_FAILURE() << e.what();
  } catch (const RedisIoError& e) {
    EXPECT_EQ(std::string(e.what()),
              fmt::format("Redis at 127.0.0.1:{} refused the connection (ERR max number of "
                          "clients reached)",
                          server.port()));
    EXPECT_FALSE(e.timeout());
  }
}

// NOPERM (an ACL denying the default user a command) names the server and the command refused.
TEST_F(ConnectionTest, AnAclRefusalNamesTheServerAndTheCommand) {
  conn().Command({"ACL", "SETUSER", "default", "-hgetall"});
  try {
    conn().Command({"HGETALL", "k"});
    FAIL();
  } catch (const RedisPermissionError& e) {
    EXPECT_EQ(e.prefix(), "NOPERM");
    std::string what = e.what();
    EXPECT_EQ(what.rfind(
                  fmt::format("Redis at 127.0.0.1:{} refused HGETALL (NOPERM", server().port()), 0),
              0u)
        << what;
    EXPECT_NE(what.find("the default user"), std::string::npos) << what;
  }
  EXPECT_EQ(conn().Command({"PING"}).str(), "PONG");  // the connection stays usable
}

// redis-server refusing its options is a configuration error quoting its complaint, found at
// once (not retried on other ports), not "exited at start: (no log)".
TEST(RedisServerStart, ARefusedOptionIsAConfigErrorQuotingRedis) {
  testing::TempDir dir;
  auto t0 = std::chrono::steady_clock::now();
  try {
    RedisServer server({.dir = dir.path(), .extra_args = {"--bogus", "yes"}});
    FAIL();
  } catch (const RedisConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              ">>> 'bogus \"yes\"' Bad directive or wrong number of arguments");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace wc::redis

namespace wc::redis {
namespace {

// Proof that a test's crash is real: a write after the last checkpoint is gone after SIGKILL
// and restart (SHUTDOWN or SIGTERM would have saved it).
TEST_F(ConnectionTest, WriteAfterLastCheckpointIsGoneAfterCrash) {
  conn().Command({"SET", "before", "1"});
  conn().Command({"SAVE"});
  conn().Command({"SET", "marker", "after the checkpoint"});
  server().Kill();
  server().Start();
  Connection c(server().connect_options());
  EXPECT_EQ(c.Command({"GET", "before"}).str(), "1");
  EXPECT_TRUE(c.Command({"GET", "marker"}).is_nil());
}

}  // namespace
}  // namespace wc::redis
