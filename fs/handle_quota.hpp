// How many files and directories each user holds open on the tree. Handles cost the agent no
// descriptor and little memory, but a user must not hold an unbounded number: beyond
// `per_user`, that user's opens fail with EMFILE while root's and other users' go on.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <set>

namespace opa::fs {

class HandleQuota {
  public:
    // Root (uid 0) has no limit: the agent's own tools and Proxmox's hooks run as root.
    explicit HandleQuota(std::size_t per_user) : per_user_(per_user) {}

    enum class Admit {
        Yes,
        No,       // over the limit
        NoFirst,  // over the limit, the first refusal since the user was last below it
    };
    // Counts one more handle for `uid`, unless it holds `per_user` already.
    Admit acquire(uid_t uid);
    void release(uid_t uid);
    std::size_t held(uid_t uid) const;

  private:
    const std::size_t per_user_;
    mutable std::mutex mutex_;
    std::map<uid_t, std::size_t> held_;
    std::set<uid_t> refused_;  // told no since they were last below the limit
};

}  // namespace opa::fs
