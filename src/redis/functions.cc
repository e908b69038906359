#include "redis/functions.h"

#include "redis/mylib_lua.h"

namespace wc::redis {

void LoadFunctions(Connection& c) { c.Command({"FUNCTION", "LOAD", "REPLACE", kMylibLua}); }

Reply FCall(Connection& c, std::string_view function, const Args& keys, const Args& args) {
  Args argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("FCALL");
  argv.emplace_back(function);
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  try {
    return c.Command(argv);
  } catch (const RedisReplyError& e) {
    if (std::string_view(e.what()).find("Function not found") == std::string_view::npos) throw;
  }
  LoadFunctions(c);
  return c.Command(argv);
}

}  // namespace wc::redis
