// The daemon: composes the configuration, the ledger, the NetworkManager client, the agent core
// and its doors (link events, the FUSE tree, the D-Bus service) around one event loop, and runs
// until SIGTERM or SIGINT.
#pragma once

#include <string>

#include "config/config.hpp"

namespace opa::mount {

struct DaemonOptions {
    config::Config config;
    std::string config_path;  // for messages and ReloadConfig
    unsigned workers = 8;
};

// Returns the process exit status.
int run_daemon(const DaemonOptions& options);

}  // namespace opa::mount
