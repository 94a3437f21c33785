// The core's Backend, made of NetworkManager profiles (nm/ovs_ports.hpp).
#pragma once

#include <functional>
#include <string>

#include "agent/core.hpp"
#include "nm/ovs_ports.hpp"

namespace opa::agent {

class NmBackend : public Backend {
  public:
    // `nm_replugs(name)`: may NM bring the port back by itself after it restarts (profile
    // autoconnect)? No where someone else may plug the same name (Proxmox's hook).
    NmBackend(nm::NmClient& nm, std::string bridge,
              std::function<bool(const std::string&)> nm_replugs = {});

    Profiles prepare(const std::string& name, const PortOptions& options, Origin origin) override;
    Profiles activate(const std::string& name) override;
    Profiles reactivate(const std::string& name) override;
    Profiles replug(const std::string& name) override;
    bool nm_restores(const std::string& name) const override;
    nlohmann::json remove(const std::string& name) override;
    void set_options(const std::string& name, const PortOptions& options) override;
    std::vector<Owned> owned() override;
    nlohmann::json remove_orphan_row(const OrphanRow& row) override;

  private:
    nm::NmClient& nm_;
    nm::OvsPorts ports_;
    std::function<bool(const std::string&)> nm_replugs_;
};

}  // namespace opa::agent
