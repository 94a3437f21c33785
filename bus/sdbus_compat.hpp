// The one place that knows which sdbus-c++ the build has: 1.x (Debian 12) or 2.x (Debian 13).
// Everything else calls these helpers where the two APIs differ (factories taking strong name
// types, proxies needing finishRegistration, match slots, message handlers by value, the
// currently processed message, error names), and uses the parts that are alike directly.
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <sdbus-c++/sdbus-c++.h>

#ifndef OPA_SDBUS_CPP_MAJOR
#error "OPA_SDBUS_CPP_MAJOR is set by bus/CMakeLists.txt from the sdbus-c++ package's version"
#endif

namespace opa::bus {

using SignalHandler = std::function<void(sdbus::Message&)>;

// A well-known bus name as the generated proxies and adaptors take it.
#if OPA_SDBUS_CPP_MAJOR >= 2
using ServiceName = sdbus::ServiceName;
#else
using ServiceName = std::string;
#endif

// A proxy of `path` at `service`, ready for calls.
inline std::unique_ptr<sdbus::IProxy> make_proxy(sdbus::IConnection& connection,
                                                 const std::string& service,
                                                 const std::string& path) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    return sdbus::createProxy(connection, sdbus::ServiceName(service), sdbus::ObjectPath(path));
#else
    auto proxy = sdbus::createProxy(connection, service, path);
    proxy->finishRegistration();
    return proxy;
#endif
}

// A proxy whose signal handlers `subscribe` registers (uponSignal...); they are in place on return.
inline std::unique_ptr<sdbus::IProxy> make_signal_proxy(
    sdbus::IConnection& connection, const std::string& service, const std::string& path,
    const std::function<void(sdbus::IProxy&)>& subscribe) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    auto proxy = make_proxy(connection, service, path);
    subscribe(*proxy);
#else
    auto proxy = sdbus::createProxy(connection, service, path);
    subscribe(*proxy);
    proxy->finishRegistration();
#endif
    return proxy;
}

// A match rule on `connection` that lives as long as the connection.
inline void add_match(sdbus::IConnection& connection, const std::string& rule,
                      SignalHandler handler) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    connection.addMatch(
        rule, [handler = std::move(handler)](sdbus::Message message) { handler(message); });
#else
    connection.addMatch(rule, std::move(handler), sdbus::floating_slot);
#endif
}

// The match rule for `interface`.`member` signals sent by the owner of `sender`.
inline std::string signal_rule(const std::string& sender, const std::string& interface,
                               const std::string& member) {
    return "type='signal',sender='" + sender + "',interface='" + interface + "',member='" + member +
           "'";
}

inline void request_name(sdbus::IConnection& connection, const std::string& name) {
    connection.requestName(ServiceName(name));
}

inline void release_name(sdbus::IConnection& connection, const std::string& name) {
    connection.releaseName(ServiceName(name));
}

inline sdbus::Error make_error(const std::string& name, const std::string& message) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    return sdbus::Error(sdbus::Error::Name(name), message);
#else
    return sdbus::Error(name, message);
#endif
}

// PropertiesChanged for one property of `object`.
inline void emit_property_changed(sdbus::IObject& object, const std::string& interface,
                                  const std::string& property) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    object.emitPropertiesChangedSignal(sdbus::InterfaceName(interface),
                                       {sdbus::PropertyName(property)});
#else
    object.emitPropertiesChangedSignal(interface, {property});
#endif
}

// The effective uid of the caller whose method call `object` is handling now, as the bus daemon
// vouches for it: GetConnectionUnixUser of the sender, the uid the daemon took from the socket's
// credentials when the caller connected. Not sd-bus's creds with AUGMENT (what sdbus-c++'s
// getCredsUid asks for): those fill the uid in from /proc/<pid>, the real uid of whatever process
// has that pid now. Throws sdbus::Error when there is no such call or the bus does not say.
inline uid_t current_caller_uid(const sdbus::IObject& object) {
#if OPA_SDBUS_CPP_MAJOR >= 2
    const char* sender = object.getCurrentlyProcessedMessage().getSender();
#else
    const sdbus::Message* message = object.getCurrentlyProcessedMessage();
    if (message == nullptr) throw sdbus::Error("org.freedesktop.DBus.Error.Failed", "no call");
    const std::string sender_text = message->getSender();
    const char* sender = sender_text.c_str();
#endif
    if (sender == nullptr || *sender == '\0') {
        throw make_error("org.freedesktop.DBus.Error.Failed", "the call names no sender");
    }
    const auto bus =
        make_proxy(object.getConnection(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
    std::uint32_t uid = 0;
    bus->callMethod("GetConnectionUnixUser")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string(sender))
        .storeResultsTo(uid);
    return static_cast<uid_t>(uid);
}

}  // namespace opa::bus
