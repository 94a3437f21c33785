// The errors of dev.ovs.PortAgent1 and the one table that maps the core's Errc onto them.
//
// Inside the service every refusal is a ServiceError (a kind and a sentence a person can act
// on); the service turns it into a D-Bus error reply at exactly one place (service.cpp,
// at_bus_boundary). The client turns the reply back into an AgentError.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "agent/core.hpp"

namespace opa::dbus {

inline constexpr const char* kBusName = "dev.ovs.PortAgent1";
inline constexpr const char* kObjectPath = "/dev/ovs/PortAgent1";
inline constexpr const char* kInterface = "dev.ovs.PortAgent1";
inline constexpr std::string_view kErrorPrefix = "dev.ovs.PortAgent1.Error.";

enum class ErrorKind {
    InvalidName,       // not a usable interface name (empty, longer than 15 bytes, bad bytes)
    InvalidArgs,       // a well-formed call with values out of range or contradicting each other
    NotFound,          // no such port
    Exists,            // the port exists already
    NotOwned,          // the port is on the bridge, but someone else plugged it
    NetworkManager,    // NetworkManager refused or failed
    LedgerUnwritable,  // the ledger cannot be written now: a change could not be audited
    AccessDenied,      // the caller may not change anything
    Failed,            // anything else: the agent is shutting down, a hook failed, ...
};

// "dev.ovs.PortAgent1.Error.InvalidName", ...
std::string error_name(ErrorKind kind);
// The inverse of error_name, for the client; nullopt for names not ours.
std::optional<ErrorKind> error_kind_from_name(std::string_view name);

// The refusal of a D-Bus request. what() is the sentence the caller sees.
class ServiceError : public std::runtime_error {
  public:
    ServiceError(ErrorKind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const noexcept { return kind_; }

  private:
    ErrorKind kind_;
};

// The one mapping from the core's error codes to ours.
ErrorKind error_kind_for(agent::Errc code);

// The ServiceError for a failed core Status: the core's message and, where one helps, what to
// do about it. Must not be called with an ok Status.
ServiceError error_for(const agent::Status& status);

}  // namespace opa::dbus
