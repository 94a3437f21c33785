// Renaming a link through rtnetlink (config enable_rename: a raw veth becomes its template
// name). The kernel refuses to rename a running link (EBUSY), so an up link is taken down,
// renamed and brought up again; a link that was down stays down.
#pragma once

#include <string>

#include "netwatch/link.hpp"

namespace opa::netwatch {

struct RenameResult {
    int error = 0;        // 0, or a positive errno: EEXIST, EBUSY, ENODEV, EINVAL, EPERM...
    std::string message;  // for the log: what was attempted and what failed
    bool ok() const { return error == 0; }
};

// Renames `old_name` to `new_name` in the caller's network namespace. Checks the new name
// (1..15 characters, not "." or "..", no '/', ':' or whitespace) and that it is free before
// touching the link; when the rename itself fails, an up link is brought up again under its old
// name. The caller adds `new_name` to the watcher's watched names (watch_name) first, so the
// renamed link stays the agent's.
RenameResult rename_link(const std::string& old_name, const std::string& new_name);

// The link `name` as the kernel has it now, for rename_refusal (rename_guard.hpp): error 0, or
// a positive errno (ENODEV: no such link). `controller` is the name of the device it is enslaved
// to ("" when none). A "tun" link counts as a Tap: its mode is not read here.
struct LinkLookup {
    int error = 0;
    LinkSnapshot link;
    std::string controller;
};
LinkLookup look_up_link(const std::string& name);

}  // namespace opa::netwatch
