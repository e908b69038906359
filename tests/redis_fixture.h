// A real redis-server per test, on a free loopback port in a private temp dir, always stopped
// (the RedisServer destructor), also when the test fails.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "redis/connection.h"
#include "redis/redis_server.h"
#include "test_util.h"

namespace wc::testing {

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<redis::RedisServer>(
        redis::RedisServerOptions{.dir = dir_.path() + "/redis"});
    conn_ = std::make_unique<redis::Connection>(server_->connect_options());
  }
  redis::Connection& conn() { return *conn_; }
  redis::RedisServer& server() { return *server_; }

  TempDir dir_;
  std::unique_ptr<redis::RedisServer> server_;
  std::unique_ptr<redis::Connection> conn_;
};

}  // namespace wc::testing
