#include "nm/nm_client.hpp"

#include <algorithm>
#include <cstdlib>

#include <sdbus-c++/sdbus-c++.h>

namespace opa::nm {
namespace {

std::string bus_address_for_humans() {
    const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    return address ? address : "the system bus";
}

// Turns an sd-bus failure into NmError with what was attempted.
[[noreturn]] void rethrow_as_nm_error(const sdbus::Error& error, const std::string& what) {
    if (error.getName() == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        error.getName() == "org.freedesktop.DBus.Error.NameHasNoOwner") {
        throw NmError("NetworkManager is not running on " + bus_address_for_humans() + " (" + what +
                      ": " + error.getMessage() + ")");
    }
    throw NmError(what + ": " + error.getName() + ": " + error.getMessage());
}

}  // namespace

bool DaemonInfo::has_ovs() const {
    return std::find(capabilities.begin(), capabilities.end(), kCapabilityOvs) !=
           capabilities.end();
}

std::unique_ptr<sdbus::IConnection> connect_system_bus() {
    try {
        return sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& error) {
        throw NmError("cannot connect to " + bus_address_for_humans() + ": " + error.getMessage());
    }
}

std::string ovs_missing_message(const DaemonInfo& info) {
    return "NetworkManager " + info.version +
           " has no Open vSwitch support (its Capabilities lack 2 = OVS; Debian builds "
           "network-manager with --disable-ovs). Build NetworkManager of the same version with "
           "OVS using scripts/build-nm-ovs.sh, and run that daemon instead of the packaged one.";
}

NmClient::NmClient(sdbus::IConnection& bus)
    : bus_(bus), manager_(sdbus::createProxy(bus_, kBusName, kObjectPath)) {
    manager_->finishRegistration();
}

NmClient::~NmClient() = default;

DaemonInfo NmClient::daemon_info() {
    DaemonInfo info;
    try {
        info.version = manager_->getProperty("Version").onInterface(kInterface).get<std::string>();
        info.capabilities = manager_->getProperty("Capabilities")
                                .onInterface(kInterface)
                                .get<std::vector<std::uint32_t>>();
    } catch (const sdbus::Error& error) {
        rethrow_as_nm_error(error, "reading NetworkManager's Version and Capabilities");
    }
    return info;
}

DaemonInfo NmClient::require_ovs() {
    DaemonInfo info = daemon_info();
    if (!info.has_ovs()) throw NmError(ovs_missing_message(info));
    return info;
}

std::string NmClient::introspect() {
    std::string xml;
    try {
        manager_->callMethod("Introspect")
            .onInterface("org.freedesktop.DBus.Introspectable")
            .storeResultsTo(xml);
    } catch (const sdbus::Error& error) {
        rethrow_as_nm_error(error, "introspecting NetworkManager");
    }
    return xml;
}

}  // namespace opa::nm
