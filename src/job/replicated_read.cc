#include "job/replicated_read.h"

#include <fmt/format.h>

#include <string>

#include "redis/sentinel.h"
#include "util/log.h"

namespace wc::job {

bool ConfirmedOnPrimary(RedisSession& session, int connection, std::chrono::milliseconds wait) {
  std::string why;
  try {
    why = session.Once([&](redis::Connection& c) -> std::string {
      if (session.connections() != connection) return "reconnected while reading";
      std::string info(c.Command({"INFO", "replication"}).str());
      if (redis::InfoField(info, "role") != "master") return "the server is no longer a primary";
      int online = 0;
      for (size_t pos = 0; (pos = info.find("state=online", pos)) != std::string::npos; ++pos)
        ++online;
      if (online == 0) return "no replica online";
      int64_t acked =
          c.Command({"WAIT", std::to_string(online), std::to_string(wait.count())}).integer();
      if (acked < online) return fmt::format("{} of {} replicas acknowledged", acked, online);
      redis::HostPort named =
          redis::SentinelClient(session.sentinel()).AskPrimary(c.options().password);
      redis::HostPort here{c.options().host, c.options().port};
      if (!(named == here))
        return fmt::format("Sentinel names {} as primary, not {}", named.str(), here.str());
      return "";
    });
  } catch (const redis::RedisError& e) {
    why = e.what();  // the connection or Sentinel failed: read again
  }
  if (!why.empty()) Log::Warn("result_unconfirmed", "why=\"{}\"", why);
  return why.empty();
}

}  // namespace wc::job
