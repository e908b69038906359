// Calling wordcount's Redis functions (mylib.lua, embedded at build time).
// Errors: as Connection (redis/errors.h).
#pragma once

#include <string_view>

#include "redis/connection.h"

namespace wc::redis {

// FUNCTION LOAD REPLACE of the embedded library. A failed REPLACE keeps the old library.
void LoadFunctions(Connection& c);

// FCALL `function` with keys and args. If the server lacks the function (e.g. it restarted
// from an RDB taken before the library was loaded), loads the library and calls once more.
Reply FCall(Connection& c, std::string_view function, const Args& keys, const Args& args);

}  // namespace wc::redis
