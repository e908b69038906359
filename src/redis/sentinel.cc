#include "redis/sentinel.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "util/escape.h"

namespace wc::redis {

std::string HostPort::str() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

std::vector<HostPort> ParseHostPorts(const std::string& list) {
  // Never echoed: a user or password ("user:pw@host:port") or a URL, which may hold one.
  if (list.find('@') != std::string::npos)
    throw std::invalid_argument(
        "expected host:port[,host:port...], got an address with a user or password (before '@')");
  if (list.find("://") != std::string::npos)
    throw std::invalid_argument("expected host:port[,host:port...], not a URL");
  std::vector<HostPort> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string item =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto bad = [&item](std::string_view why) {
      return std::invalid_argument(
          fmt::format("expected host:port{}, got \"{}\"", why, EscapeForLog(item)));
    };
    std::string host;
    size_t colon = std::string::npos;
    if (item.starts_with('[')) {  // an IPv6 address: [::1]:26379
      size_t close = item.find(']');
      if (close == std::string::npos || close == 1 || close + 1 >= item.size() ||
          item[close + 1] != ':')
        throw bad(" ([IPv6 address]:port)");
      host = item.substr(1, close - 1);
      colon = close + 1;
    } else {
      colon = item.rfind(':');
      if (colon != std::string::npos && item.find(':') != colon)
        throw bad(" (an IPv6 address goes in brackets: [::1]:26379)");
      if (colon != std::string::npos) host = item.substr(0, colon);
    }
    int port = 0;
    const char* end = item.data() + item.size();
    bool ok = colon != std::string::npos && !host.empty();
    if (ok) {
      auto [p, ec] = std::from_chars(item.data() + colon + 1, end, port);
      ok = ec == std::errc() && p == end && port > 0 && port <= 65535;
    }
    if (!ok) throw bad("");
    out.push_back({host, port});
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string JoinHostPorts(const std::vector<HostPort>& list) {
  std::string out;
  for (const HostPort& h : list) out += (out.empty() ? "" : ",") + h.str();
  return out;
}

Role RoleOf(Connection& c) {
  Reply r = c.Command({"ROLE"});
  std::string_view role = r[0].str();
  if (role == "master") return Role::kPrimary;
  if (role == "slave") return Role::kReplica;
  if (role == "sentinel") return Role::kSentinel;
  return Role::kUnknown;
}

const char* ToString(Role r) {
  switch (r) {
    case Role::kPrimary:
      return "primary";
    case Role::kReplica:
      return "replica";
    case Role::kSentinel:
      return "sentinel";
    default:
      return "unknown";
  }
}

SentinelClient::SentinelClient(SentinelOptions options) : o_(std::move(options)) {
  if (!o_.enabled() || o_.master_name.empty())
    throw std::invalid_argument("a Sentinel client needs Sentinels and a master name");
}

template <class F>
auto SentinelClient::AskEach(const std::string& password, F&& f) const
    -> decltype(f(std::declval<Connection&>())) {
  std::string errors;
  for (const HostPort& s : o_.sentinels) {
    ConnectOptions co{.host = s.host,
                      .port = s.port,
                      .password = password,
                      .connect_timeout = o_.timeout,
                      .command_timeout = o_.timeout};
    try {
      Connection c(co);
      return f(c);
    } catch (const RedisIoError& e) {
      errors += fmt::format("; {}: {}", s.str(), e.what());
    } catch (const RedisProtocolError& e) {
      errors += fmt::format("; {}: {}", s.str(), e.what());
    } catch (const RedisReplyError& e) {
      // A server without the SENTINEL command (a plain Redis given as a Sentinel): said so,
      // not its raw "ERR unknown command 'SENTINEL', with args beginning with: ...".
      if (std::string_view(e.what()).rfind("ERR unknown command", 0) != 0) throw;
      errors += fmt::format(
          "; the server at {} is not a Sentinel (it does not know the SENTINEL "
          "command: a plain Redis?)",
          s.str());
    }
  }
  throw RedisIoError(
      fmt::format("no Sentinel names a primary for \"{}\"{}", o_.master_name, errors), false);
}

HostPort SentinelClient::AskPrimary(const std::string& password) const {
  return AskEach(password, [&](Connection& c) {
    Reply r = c.Command({"SENTINEL", "get-master-addr-by-name", o_.master_name});
    if (r.is_nil()) throw RedisProtocolError("this Sentinel does not monitor the name");
    HostPort h{std::string(r[0].str()), 0};
    std::string_view port = r[1].str();
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), h.port);
    if (ec != std::errc() || p != port.data() + port.size())
      throw RedisProtocolError("bad port in the Sentinel's reply");
    return h;
  });
}

Connection SentinelClient::ConnectPrimary(const ConnectOptions& base) const {
  // Each Sentinel in turn: a Sentinel cut off with an old primary (or not yet told of a
  // failover) names a server that is gone or demoted; only one that says it is a primary is
  // used, else the next Sentinel's answer is tried.
  std::string errors;
  std::vector<HostPort> tried;
  for (const HostPort& s : o_.sentinels) {
    HostPort at;
    try {
      at = SentinelClient(SentinelOptions{.sentinels = {s},
                                          .master_name = o_.master_name,
                                          .timeout = o_.timeout})
               .AskPrimary(base.password);
    } catch (const RedisIoError& e) {
      errors += fmt::format("; {}", e.what());
      continue;
    }
    if (std::find(tried.begin(), tried.end(), at) != tried.end()) continue;
    tried.push_back(at);
    ConnectOptions co = base;
    co.host = at.host;
    co.port = at.port;
    co.unix_socket.clear();
    try {
      Connection c(co);
      Role role = RoleOf(c);
      if (role == Role::kPrimary) return c;
      errors += fmt::format("; Sentinel {} names {}, a {}", s.str(), at.str(), ToString(role));
    } catch (const RedisIoError& e) {
      errors += fmt::format("; Sentinel {} names {}: {}", s.str(), at.str(), e.what());
    }
  }
  throw RedisIoError(fmt::format("no primary for \"{}\"{}", o_.master_name, errors), false);
}

std::vector<HostPort> SentinelClient::Replicas(const std::string& password) const {
  return AskEach(password, [&](Connection& c) {
    Reply r = c.Command({"SENTINEL", "replicas", o_.master_name});
    std::vector<HostPort> out;
    for (size_t i = 0; i < r.size(); ++i) {
      Reply fields = r[i];
      HostPort h;
      std::string flags;
      for (size_t k = 0; k + 1 < fields.size(); k += 2) {
        std::string_view name = fields[k].str(), value = fields[k + 1].str();
        if (name == "ip") h.host = value;
        if (name == "port") std::from_chars(value.data(), value.data() + value.size(), h.port);
        if (name == "flags") flags = value;
      }
      if (flags.find("down") == std::string::npos &&
          flags.find("disconnected") == std::string::npos)
        out.push_back(h);
    }
    return out;
  });
}

Connection ConnectTo(const ConnectOptions& base, const SentinelOptions& sentinel) {
  if (!sentinel.enabled()) return Connection(base);
  return SentinelClient(sentinel).ConnectPrimary(base);
}

}  // namespace wc::redis
