#include "redis/functions.h"

#include "redis/mylib_lua.h"

namespace wc::redis {

void LoadFunctions(Connection& c) { c.Command({"FUNCTION", "LOAD", "REPLACE", kMylibLua}); }

void EnsureLibrary(Connection& c) {
  Reply libs;
  try {
    libs = c.Command({"FUNCTION", "LIST", "LIBRARYNAME", "wordcount", "WITHCODE"});
  } catch (const RedisPermissionError&) {
    return;
  }
  // LIBRARYNAME is a pattern: "wordcount" matches only itself.
  for (size_t l = 0; l < libs.size(); ++l) {
    const Reply lib = libs[l];
    bool ours = false;
    std::string_view code;
    for (size_t i = 0; i + 1 < lib.size(); i += 2) {
      if (lib[i].str() == "library_name") ours = lib[i + 1].str() == "wordcount";
      if (lib[i].str() == "library_code") code = lib[i + 1].str();
    }
    if (ours && code == kMylibLua) return;
  }
  LoadFunctions(c);
}

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
