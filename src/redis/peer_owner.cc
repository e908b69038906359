#include "redis/peer_owner.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace wc::redis {

namespace {

constexpr uid_t kFirstOrdinaryUid = 1000;  // Debian's UID_MIN (login.defs)

// An address as an IPv6 one (IPv4 as v4-mapped), with its port in host order.
struct Endpoint {
  in6_addr addr{};
  uint16_t port = 0;
};

bool ToEndpoint(const sockaddr_storage& ss, Endpoint* out) {
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    out->addr = {};
    out->addr.s6_addr[10] = out->addr.s6_addr[11] = 0xff;
    std::memcpy(&out->addr.s6_addr[12], &a.sin_addr, 4);
    out->port = ntohs(a.sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    out->addr = a.sin6_addr;
    out->port = ntohs(a.sin6_port);
    return true;
  }
  return false;
}

bool Loopback(const in6_addr& a) {
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

// The kernel's spelling in /proc/net/tcp ("%08X:%04X" of the raw 32-bit address) and in
// /proc/net/tcp6 (four raw 32-bit words).
std::string ProcTcp(const Endpoint& e) {
  uint32_t w;
  std::memcpy(&w, &e.addr.s6_addr[12], 4);
  return fmt::format("{:08X}:{:04X}", w, e.port);
}
std::string ProcTcp6(const Endpoint& e) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    uint32_t w;
    std::memcpy(&w, &e.addr.s6_addr[4 * i], 4);
    out += fmt::format("{:08X}", w);
  }
  return out + fmt::format(":{:04X}", e.port);
}

// The uid of the socket in `table` whose local address is `local` and remote `remote`.
std::optional<uid_t> FindInTable(const char* table, const std::string& local,
                                 const std::string& remote) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, l, r, state, queues, timer, retransmits;
    uid_t uid = 0;
    if (!(fields >> slot >> l >> r >> state >> queues >> timer >> retransmits >> uid)) continue;
    if (l == local && r == remote) return uid;
  }
  return std::nullopt;
}

}  // namespace

ServerEnd FindServerEnd(int fd) {
  sockaddr_storage peer{}, self{};
  socklen_t peer_len = sizeof peer, self_len = sizeof self;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &self_len) != 0) {
    return {.local = true, .owner = std::nullopt};  // cannot tell: assume the worst
  }
  if (peer.ss_family == AF_UNIX) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return {.local = true};
    return {.local = true, .owner = cred.uid};
  }
  Endpoint server, client;
  if (!ToEndpoint(peer, &server) || !ToEndpoint(self, &client)) return {.local = true};
  bool local =
      Loopback(server.addr) || std::memcmp(&server.addr, &client.addr, sizeof server.addr) == 0;
  if (!local) return {};
  std::optional<uid_t> owner;
  if (IN6_IS_ADDR_V4MAPPED(&server.addr))
    owner = FindInTable("/proc/net/tcp", ProcTcp(server), ProcTcp(client));
  if (!owner) owner = FindInTable("/proc/net/tcp6", ProcTcp6(server), ProcTcp6(client));
  return {.local = true, .owner = owner};
}

bool TrustedOwner(uid_t uid) { return uid == ::geteuid() || uid < kFirstOrdinaryUid; }

}  // namespace wc::redis
