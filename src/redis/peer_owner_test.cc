#include "redis/peer_owner.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "redis/connection.h"
#include "util/unique_fd.h"

namespace wc::redis {
namespace {

// `family`'s loopback address (with `any`, IPv6's ::) and `port`, as a sockaddr of *len bytes.
sockaddr_storage Address(int family, bool any, int port, socklen_t* len) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof a;
  } else {
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    a.sin6_family = AF_INET6;
    a.sin6_addr = any ? in6addr_any : in6addr_loopback;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof a;
  }
  return ss;
}

// A listening TCP socket on `family`'s loopback address (AF_INET6 with `dual`: on ::, taking
// IPv4 connections too); its port in *port.
UniqueFd Listen(int family, bool dual, int* port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int off = 0;
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  socklen_t len = 0;
  sockaddr_storage ss = Address(family, dual, 0, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), 8) != 0)
    return UniqueFd();
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  *port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                  : reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return fd;
}

UniqueFd ConnectTo(int family, int port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len = 0;
  sockaddr_storage ss = Address(family, false, port, &len);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return UniqueFd();
  return fd;
}

// The owner is found in /proc/net/tcp, in /proc/net/tcp6, and for an IPv4 connection that a
// dual-stack listener took (an IPv6 socket with v4-mapped addresses), accepted or not yet.
TEST(PeerOwner, LoopbackTcpServerIsLocalAndOwnedByThisUser) {
  struct Case {
    int listen_family;
    bool dual;
    int connect_family;
  };
  for (Case c : {Case{AF_INET, false, AF_INET}, Case{AF_INET6, false, AF_INET6},
                 Case{AF_INET6, true, AF_INET}}) {
    int port = 0;
    UniqueFd listener = Listen(c.listen_family, c.dual, &port);
    if (listener.get() < 0) GTEST_SKIP() << "no IPv6 loopback here";
    UniqueFd client = ConnectTo(c.connect_family, port);
    ASSERT_GE(client.get(), 0);
    ServerEnd before = FindServerEnd(client.get());
    EXPECT_TRUE(before.local);
    UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ServerEnd after = FindServerEnd(client.get());
    EXPECT_TRUE(after.local);
    ASSERT_TRUE(after.owner.has_value()) << c.listen_family << " " << c.dual;
    EXPECT_EQ(*after.owner, ::geteuid());
  }
}

TEST(PeerOwner, TrustsThisUserRootAndSystemAccountsOnly) {
  EXPECT_TRUE(TrustedOwner(::geteuid()));
  EXPECT_TRUE(TrustedOwner(0));
  EXPECT_TRUE(TrustedOwner(110));  // e.g. Debian's `redis`
  if (::geteuid() != 65534) {
    EXPECT_FALSE(TrustedOwner(65534));
  }
  if (::geteuid() != 1001) {
    EXPECT_FALSE(TrustedOwner(1001));
  }
}

// A listener another local user put on a loopback port (as on the port of a server that was
// restarting) never receives the password: the connection is refused before AUTH. Needs root
// to run the listener as another user (uid 65534).
TEST(PeerOwner, PasswordIsNeverSentToAnotherUsersListener) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to listen as another user";
  int ready[2], got[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(got), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Another user: listen, accept, collect what arrives until the test is done (at most 5 s),
    // hand it over.
    ::close(done[1]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    int port = 0;
    UniqueFd listener = Listen(AF_INET, false, &port);
    ::write(ready[1], &port, sizeof port);
    std::string received;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<UniqueFd> conns;
    while (std::chrono::steady_clock::now() < end) {
      std::vector<pollfd> fds{{listener.get(), POLLIN, 0}, {done[0], POLLIN, 0}};
      for (auto& c : conns) fds.push_back({c.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents) conns.emplace_back(::accept4(listener.get(), nullptr, nullptr, 0));
      if (fds[1].revents) break;  // the test closed its end
      for (size_t i = 2; i < fds.size(); ++i) {
        char buf[512];
        ssize_t n = fds[i].revents ? ::read(fds[i].fd, buf, sizeof buf) : 0;
        if (n > 0) received.append(buf, static_cast<size_t>(n));
      }
    }
    ::write(got[1], received.data(), received.size());
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(got[1]);
  ::close(done[0]);
  int port = 0;
  ASSERT_EQ(::read(ready[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  ConnectOptions o{.host = "127.0.0.1", .port = port, .password = "the-secret"};
  o.command_timeout = o.connect_timeout = std::chrono::milliseconds(500);
  try {
    Connection c(o);
    ADD_FAILURE() << "connected to another user's listener";
  } catch (const RedisIoError& e) {
    EXPECT_NE(std::string(e.what()).find("run by another user (uid 65534)"), std::string::npos)
        << e.what();
  }
  ::close(done[1]);
  std::string received;
  char buf[512];
  for (ssize_t n; (n = ::read(got[0], buf, sizeof buf)) > 0;)
    received.append(buf, static_cast<size_t>(n));
  ::close(ready[0]);
  ::close(got[0]);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(received.find("the-secret"), std::string::npos) << received;
  EXPECT_EQ(received.find("AUTH"), std::string::npos) << received;
}

}  // namespace
}  // namespace wc::redis
