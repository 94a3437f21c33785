#include "dbus/errors.hpp"

#include <array>
#include <utility>

namespace opa::dbus {
namespace {

constexpr std::array<std::pair<ErrorKind, std::string_view>, 9> kErrorNames{{
    {ErrorKind::InvalidName, "InvalidName"},
    {ErrorKind::InvalidArgs, "InvalidArgs"},
    {ErrorKind::NotFound, "NotFound"},
    {ErrorKind::Exists, "Exists"},
    {ErrorKind::NotOwned, "NotOwned"},
    {ErrorKind::NetworkManager, "NetworkManager"},
    {ErrorKind::LedgerUnwritable, "LedgerUnwritable"},
    {ErrorKind::AccessDenied, "AccessDenied"},
    {ErrorKind::Failed, "Failed"},
}};

struct Mapping {
    agent::Errc code;
    ErrorKind kind;
    std::string_view hint;  // appended to the core's message: what the caller can do
};

// The one table from core error codes to D-Bus errors.
constexpr std::array<Mapping, 10> kMappings{{
    {agent::Errc::InvalidName, ErrorKind::InvalidName,
     "; an interface name has 1 to 15 bytes of printable ASCII without '/', ':' or spaces"},
    {agent::Errc::NameTooLong, ErrorKind::InvalidName, "; an interface name has at most 15 bytes"},
    {agent::Errc::InvalidArgument, ErrorKind::InvalidArgs, ""},
    {agent::Errc::Exists, ErrorKind::Exists, "; remove it first with RemoveContainerInterface"},
    {agent::Errc::NotFound, ErrorKind::NotFound, "; ListPorts shows the ports the agent knows"},
    {agent::Errc::NotOwned, ErrorKind::NotOwned,
     "; ports plugged by someone else (state external) are left to whoever plugged them"},
    {agent::Errc::Backend, ErrorKind::NetworkManager,
     "; see `journalctl -u NetworkManager` for its side"},
    {agent::Errc::ShuttingDown, ErrorKind::Failed, "; try again once the agent has restarted"},
    {agent::Errc::LedgerUnwritable, ErrorKind::LedgerUnwritable,
     "; free space where the ledger is kept (ledger_path) and try again: what the agent did "
     "meanwhile is written to it first"},
    {agent::Errc::Unavailable, ErrorKind::Failed,
     "; nothing changed: try again once it answers, or give the port's tag explicitly"},
}};

}  // namespace

std::string error_name(ErrorKind kind) {
    for (const auto& [candidate, suffix] : kErrorNames) {
        if (candidate == kind) return std::string(kErrorPrefix) + std::string(suffix);
    }
    return std::string(kErrorPrefix) + "Failed";
}

std::optional<ErrorKind> error_kind_from_name(std::string_view name) {
    if (!name.starts_with(kErrorPrefix)) return std::nullopt;
    name.remove_prefix(kErrorPrefix.size());
    for (const auto& [kind, suffix] : kErrorNames) {
        if (suffix == name) return kind;
    }
    return std::nullopt;
}

ErrorKind error_kind_for(agent::Errc code) {
    for (const Mapping& mapping : kMappings) {
        if (mapping.code == code) return mapping.kind;
    }
    return ErrorKind::Failed;
}

ServiceError error_for(const agent::Status& status) {
    for (const Mapping& mapping : kMappings) {
        if (mapping.code == status.code) {
            const std::string prefix =
                mapping.kind == ErrorKind::NetworkManager ? "NetworkManager: " : "";
            return ServiceError(mapping.kind,
                                prefix + status.message + std::string(mapping.hint) + ".");
        }
    }
    return ServiceError(ErrorKind::Failed, "unexpected result " +
                                               std::string(agent::to_string(status.code)) + ": " +
                                               status.message + ".");
}

}  // namespace opa::dbus
