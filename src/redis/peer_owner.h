// Who runs the server at the other end of a connection, when it runs on this host: what
// Connection checks before it sends the password (AUTH), so that a listener another local user
// put on a server's address (a loopback port freed by a crash, a restart) never receives it.
//
// A unix-domain socket's peer is the kernel's answer (SO_PEERCRED: who made the listening
// socket). A TCP connection's server end is on this host if its address is a loopback address
// or this end's own address; its owner is then the uid column of the one socket in
// /proc/net/tcp (or /proc/net/tcp6: an IPv4 connection accepted by a dual-stack listener is an
// IPv6 socket with v4-mapped addresses) whose local and remote addresses are this connection's,
// reversed. On kernels before 6.x that column reads 0 (root) for a connection the server has
// not accepted yet; a caller that needs the real owner asks again after a round trip.
// A server on another host (or in another network namespace) cannot be checked: `local` false.
//
// No ownership, no state; thread-safe. Errors: none thrown; what cannot be found is reported
// (local with no owner).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace wc::redis {

struct ServerEnd {
  bool local = false;          // on this host, so some user of it runs it
  std::optional<uid_t> owner;  // local: its owner, if found
};

// The server end of the connected socket `fd` (TCP or unix-domain).
ServerEnd FindServerEnd(int fd);

// May a local server owned by `uid` be given the password? Yes if it is this process's user,
// root or a system account (uid below 1000, e.g. Debian's `redis`, which runs the packaged
// server): none of them is the other ordinary local user this check keeps out.
bool TrustedOwner(uid_t uid);

}  // namespace wc::redis
