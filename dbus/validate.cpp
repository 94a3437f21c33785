#include "dbus/validate.hpp"

#include "agent/naming.hpp"
#include "dbus/errors.hpp"

namespace opa::dbus {

void check_ifname(std::string_view name, std::string_view what) {
    const auto error = naming::ifname_error(name);
    if (!error) return;
    std::string message =
        std::string(what) + " '" + std::string(name) +
        "' is not a usable interface name: " + std::string(naming::describe(*error));
    if (*error == naming::IfnameError::kTooLong) {
        message += " (it has " + std::to_string(name.size()) + "); Linux allows at most " +
                   std::to_string(naming::kMaxIfnameLen) + " bytes.";
    } else {
        message += "; use 1 to 15 bytes of printable ASCII without '/', ':' or spaces.";
    }
    throw ServiceError(ErrorKind::InvalidName, message);
}

std::string port_name_for_request(std::string_view raw_ifname, std::uint32_t vmid) {
    check_ifname(raw_ifname, "raw_ifname");
    if (vmid < naming::kMinVmid || vmid > naming::kMaxVmid) {
        throw ServiceError(ErrorKind::InvalidArgs, "VMID " + std::to_string(vmid) +
                                                       " is out of range: Proxmox VMIDs are " +
                                                       std::to_string(naming::kMinVmid) + ".." +
                                                       std::to_string(naming::kMaxVmid) + ".");
    }
    std::uint32_t index = 0;
    if (const auto guest = naming::parse_guest_ifname(raw_ifname)) {
        if (guest->vmid != vmid) {
            throw ServiceError(ErrorKind::InvalidArgs,
                               "'" + std::string(raw_ifname) + "' is an interface of VMID " +
                                   std::to_string(guest->vmid) + ", not of VMID " +
                                   std::to_string(vmid) + "; pass the guest's own VMID.");
        }
        index = guest->index;
    }
    // Cannot fail: the VMID is in range and parse_guest_ifname only yields valid indexes.
    const auto name = naming::port_name_for(vmid, index);
    if (!name) {
        throw ServiceError(ErrorKind::InvalidArgs, "VMID " + std::to_string(vmid) + " with NIC " +
                                                       std::to_string(index) +
                                                       " has no port name.");
    }
    return *name;
}

void require_root(std::optional<uid_t> caller_uid, std::string_view method) {
    if (caller_uid && *caller_uid == 0) return;
    const std::string who = caller_uid ? "uid " + std::to_string(*caller_uid)
                                       : std::string("a caller the bus could not identify");
    throw ServiceError(ErrorKind::AccessDenied, "only root may call " + std::string(method) +
                                                    ", not " + who +
                                                    "; run the command with sudo.");
}

}  // namespace opa::dbus
