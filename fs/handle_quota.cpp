#include "fs/handle_quota.hpp"

namespace opa::fs {

HandleQuota::Admit HandleQuota::acquire(uid_t uid) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(uid);
    const std::size_t held = it == held_.end() ? 0 : it->second;
    if (uid != 0 && held >= per_user_) {
        return refused_.insert(uid).second ? Admit::NoFirst : Admit::No;
    }
    if (it == held_.end()) {
        held_.emplace(uid, 1);
    } else {
        ++it->second;
    }
    return Admit::Yes;
}

void HandleQuota::release(uid_t uid) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(uid);
    if (it == held_.end()) return;
    refused_.erase(uid);
    if (--it->second == 0) held_.erase(it);
}

std::size_t HandleQuota::held(uid_t uid) const {
    std::lock_guard lock(mutex_);
    auto it = held_.find(uid);
    return it == held_.end() ? 0 : it->second;
}

}  // namespace opa::fs
