#include "redis/functions.h"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

#include "redis/mylib_lua.h"

namespace wc::redis {

namespace {

// The value of `key` in a flat field/value reply (FUNCTION LIST's libraries and functions).
std::optional<Reply> FieldOf(const Reply& flat, std::string_view key) {
  for (size_t i = 0; i + 1 < flat.size(); i += 2)
    if (flat[i].str() == key) return flat[i + 1];
  return std::nullopt;
}

// The library that holds `function` on the server, "" if none (or FUNCTION LIST is refused).
std::string LibraryOf(Connection& c, std::string_view function) {
  try {
    const Reply libs = c.Command({"FUNCTION", "LIST"});
    for (size_t l = 0; l < libs.size(); ++l) {
      const std::optional<Reply> functions = FieldOf(libs[l], "functions");
      for (size_t f = 0; functions && f < functions->size(); ++f) {
        if (const auto name = FieldOf((*functions)[f], "name"); name && name->str() == function)
          return std::string(FieldOf(libs[l], "library_name")->str());
      }
    }
  } catch (const RedisReplyError&) {
  }
  return "";
}

// Another library holds `function`, one of this library's names: what to do about it.
// `consequence` follows the library's name (", so ... cannot be loaded").
RedisLibraryConflict HeldByAnotherLibrary(const Connection& c, std::string_view function,
                                          std::string_view library, std::string_view consequence) {
  return RedisLibraryConflict(fmt::format(
      "Redis at {} holds the function {} in another library ('{}'){}: remove that library "
      "(FUNCTION DELETE {}) unless something else needs it",
      c.options().address(), function, library, consequence, library));
}

}  // namespace

void LoadFunctions(Connection& c) {
  try {
    c.Command({"FUNCTION", "LOAD", "REPLACE", kMylibLua});
  } catch (const RedisPermissionError&) {
    throw;
  } catch (const RedisReplyError& e) {
    // "ERR Function wc_commit_v4 already exists": another library holds one of our names.
    const std::string_view what = e.what();
    const size_t at = what.find("Function "), end = what.find(" already exists");
    if (at == std::string_view::npos || end == std::string_view::npos || end < at + 9) throw;
    const std::string function(what.substr(at + 9, end - at - 9));
    throw HeldByAnotherLibrary(
        c, function, LibraryOf(c, function),
        fmt::format(", so this build's library 'wordcount' cannot be loaded ({})", what));
  }
}

void EnsureLibrary(Connection& c) {
  Reply libs;
  try {
    libs = c.Command({"FUNCTION", "LIST", "LIBRARYNAME", "wordcount", "WITHCODE"});
  } catch (const RedisPermissionError&) {
    return;
  }
  // LIBRARYNAME is a pattern: "wordcount" matches only itself.
  for (size_t l = 0; l < libs.size(); ++l) {
    const auto name = FieldOf(libs[l], "library_name");
    const auto code = FieldOf(libs[l], "library_code");
    if (name && name->str() == "wordcount" && code && code->str() == kMylibLua) return;
  }
  LoadFunctions(c);
}

void RefuseForeignLibrary(Connection& c) {
  Reply libs;
  try {
    libs = c.Command({"FUNCTION", "LIST", "WITHCODE"});
  } catch (const RedisPermissionError&) {
    return;
  }
  for (size_t l = 0; l < libs.size(); ++l) {
    const auto name = FieldOf(libs[l], "library_name");
    const auto code = FieldOf(libs[l], "library_code");
    const auto functions = FieldOf(libs[l], "functions");
    if (!name || !functions) continue;
    if (name->str() == "wordcount") {
      if (code && code->str() != kMylibLua) {
        throw RedisLibraryConflict(fmt::format(
            "Redis at {} holds another build's 'wordcount' library (other code under the same "
            "function names): this command does not call it, and loads nothing; a `wordcount "
            "run` of this build replaces it",
            c.options().address()));
      }
      continue;
    }
    for (size_t f = 0; f < functions->size(); ++f) {
      const auto fn = FieldOf((*functions)[f], "name");
      if (fn && fn->str().starts_with("wc_") && fn->str().ends_with("_v4")) {
        throw HeldByAnotherLibrary(c, fn->str(), name->str(), "");
      }
    }
  }
}

namespace {

Reply Call(Connection& c, const char* command, std::string_view function, const Args& keys,
           const Args& args) {
  Args argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back(command);
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

}  // namespace

Reply FCall(Connection& c, std::string_view function, const Args& keys, const Args& args) {
  return Call(c, "FCALL", function, keys, args);
}

Reply FCallReadOnly(Connection& c, std::string_view function, const Args& keys, const Args& args) {
  return Call(c, "FCALL_RO", function, keys, args);
}

}  // namespace wc::redis
