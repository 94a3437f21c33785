// The core's Backend, made of NetworkManager profiles (nm/ovs_ports.hpp).
#pragma once

#include <string>

#include "agent/core.hpp"
#include "nm/ovs_ports.hpp"

namespace opa::agent {

class NmBackend : public Backend {
  public:
    NmBackend(nm::NmClient& nm, std::string bridge);

    Profiles prepare(const std::string& name, const PortOptions& options, Origin origin) override;
    Profiles activate(const std::string& name) override;
    nlohmann::json remove(const std::string& name) override;
    void set_options(const std::string& name, const PortOptions& options) override;
    std::vector<Owned> owned() override;

  private:
    nm::OvsPorts ports_;
};

}  // namespace opa::agent
