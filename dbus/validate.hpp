// The checks a dev.ovs.PortAgent1 request passes before it changes anything: its arguments and
// its caller. Pure functions that throw ServiceError, so they are unit-tested without a bus.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opa::dbus {

// Throws ServiceError(InvalidName) unless `name` is a usable interface name. `what` names the
// argument in the message ("port name", "raw_ifname").
void check_ifname(std::string_view name, std::string_view what);

// The port name CreateContainerInterface attaches a container's interface as, by the vi{VMID}
// scheme: "vi{VMID}" for NIC 0, "vi{VMID}i{N}" for NIC N. N comes from `raw_ifname` when it is
// a Proxmox guest NIC name (veth{VMID}i{N}, tap{VMID}i{N}, fwln{VMID}o{N}), whose VMID must then
// be `vmid`; any other valid interface name stands for NIC 0. Throws ServiceError: InvalidName
// for an unusable raw_ifname, InvalidArgs for a VMID outside 100..999999999 or a guest name of
// another VMID.
std::string port_name_for_request(std::string_view raw_ifname, std::uint32_t vmid);

// Only root may change anything. Throws ServiceError(AccessDenied) naming the method unless
// `caller_uid` is 0; nullopt (the bus could not tell who called) is refused too.
void require_root(std::optional<uid_t> caller_uid, std::string_view method);

}  // namespace opa::dbus
