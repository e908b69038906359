// Calling wordcount's Redis functions (mylib.lua, embedded at build time).
// Errors: as Connection (redis/errors.h).
#pragma once

#include <string_view>

#include "redis/connection.h"

namespace wc::redis {

// FUNCTION LOAD REPLACE of the embedded library. A failed REPLACE keeps the old library.
// Throws RedisLibraryConflict (naming the server, the function and the other library) if another
// library holds one of its function names.
void LoadFunctions(Connection& c);

// Makes the server's `wordcount` library this build's: FUNCTION LOAD REPLACE unless FUNCTION LIST
// ... WITHCODE shows exactly the embedded code. A library of another build under the same
// function names (an RDB or a server another build used) would otherwise be called as it is. A
// server whose ACL refuses FUNCTION LIST is taken as it is (nothing to compare; a missing
// function is still loaded by FCall); one that refuses the LOAD of a differing library throws
// RedisPermissionError.
void EnsureLibrary(Connection& c);

// For readers that load nothing (`status`, `top`): throws RedisLibraryConflict, naming the
// server and the library, if a library other than this build's holds one of wordcount's function
// names (wc_*_v4): another build's `wordcount` (other code under the same names), or a library of
// another name. Its function would be called, and its answer read as wordcount's. A server whose
// ACL refuses FUNCTION LIST is taken as it is.
void RefuseForeignLibrary(Connection& c);

// FCALL `function` with keys and args. If the server lacks the function (e.g. it restarted
// from an RDB taken before the library was loaded), loads the library and calls once more.
Reply FCall(Connection& c, std::string_view function, const Args& keys, const Args& args);
// FCALL_RO: for a `no-writes` function, which an ACL lets a user call who may only read its keys
// (%R~key; FCALL asks for full access to every key it is given).
Reply FCallReadOnly(Connection& c, std::string_view function, const Args& keys, const Args& args);

}  // namespace wc::redis
