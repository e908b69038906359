// The Redis key names of one job. Every key derives from two config values: the task stream
// P (IN) and the sorted set of counts C (COUNT). mylib.lua's functions all take the same nine
// keys in one order (FunctionKeys); its header describes each. Value type; no I/O.
#pragma once

#include <string>

#include "job/config.h"
#include "redis/connection.h"

namespace wc::job {

struct JobKeys {
  std::string stream = "files";  // P (IN)
  std::string counts = "count";  // C (COUNT)
  std::string fname = "fname";   // FNAME: the path field of task entries (for readers)
  std::string group = "worker";  // the lab's consumer group name
  std::string job() const { return stream + ":job"; }          // hash: the job record
  std::string plan() const { return stream + ":plan"; }        // hash: task n -> descriptor
  std::string done() const { return stream + ":done"; }        // bitmap: task n finished
  std::string failed() const { return stream + ":failed"; }    // hash: task:<n> -> error
  std::string rdone() const { return stream + ":rdone"; }      // bitmap: partition r finished
  std::string redo() const { return stream + ":redo"; }        // set: maps being redone
  std::string blocked() const { return stream + ":blocked"; }  // set: reduces waiting
  std::string foreign() const { return stream + ":foreign"; }  // hash: entry -> why foreign
  std::string parts() const { return stream + ":parts"; }      // hash: partition -> its run
  std::string holder() const { return counts + ":holder"; }    // string: the stream that made C
  // KEYS of every function of mylib.lua, in its order.
  redis::Args FunctionKeys() const {
    return {stream, job(), plan(), done(), failed(), counts, rdone(), redo(), blocked()};
  }
  // Every key of the job.
  redis::Args All() const {
    redis::Args all = FunctionKeys();
    all.push_back(foreign());
    all.push_back(parts());
    return all;
  }
};

// The keys named by a job's configuration (IN, COUNT, FNAME).
inline JobKeys KeysOf(const JobConfig& c) {
  return JobKeys{.stream = c.in, .counts = c.count, .fname = c.fname};
}

}  // namespace wc::job
