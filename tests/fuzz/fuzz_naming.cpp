// Fuzz target: agent/naming (interface-name validation, Proxmox guest names, the vi{VMID} port
// scheme, naming templates).
// Properties, from naming.hpp: a name ifname_error accepts is 1..15 bytes of printable ASCII
// without '/', ':', a backslash or blanks and is not "." or ".."; a recognised guest name is the
// canonical spelling of its (kind, VMID, index); port names and (VMID, index) pairs map one to one;
// a rendered template is 1..15 bytes of [a-z0-9_]; rendering succeeds or fails, never both.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/naming.hpp"
#include "fuzz_check.hpp"

namespace naming = opa::naming;

namespace {

bool own_ifname_rules(std::string_view name) {
    if (name.empty() || name.size() > naming::kMaxIfnameLen) return false;
    if (name == "." || name == "..") return false;
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f || c == '/' || c == ':' || c == '\\') return false;
    }
    return true;
}

void check_ifname(std::string_view name) {
    const auto error = naming::ifname_error(name);
    FUZZ_CHECK(naming::is_valid_ifname(name) == !error);
    FUZZ_CHECK(!error == own_ifname_rules(name));
    if (error) {
        FUZZ_CHECK(!naming::describe(*error).empty());
        FUZZ_CHECK(naming::errno_for(*error) > 0);
    }
}

void check_guest_and_port(std::string_view name) {
    const auto nic = naming::parse_guest_ifname(name);
    const auto port = naming::port_name_for_ifname(name);
    FUZZ_CHECK(nic.has_value() == port.has_value());
    if (nic) {
        FUZZ_CHECK(naming::is_valid_ifname(name));
        FUZZ_CHECK(!naming::check_guest_id(nic->vmid, nic->index));
        std::string spelled;
        switch (nic->kind) {
            case naming::GuestKind::kContainer:
                spelled = "veth" + std::to_string(nic->vmid) + "i";
                break;
            case naming::GuestKind::kVm:
                spelled = "tap" + std::to_string(nic->vmid) + "i";
                break;
            case naming::GuestKind::kFirewallLink:
                spelled = "fwln" + std::to_string(nic->vmid) + "o";
                break;
        }
        spelled += std::to_string(nic->index);
        FUZZ_CHECK(spelled == name);
        FUZZ_CHECK(naming::is_valid_ifname(*port) && port->size() <= 14);
        const auto id = naming::parse_port_name(*port);
        FUZZ_CHECK(id && id->vmid == nic->vmid && id->index == nic->index);
    }
    if (const auto id = naming::parse_port_name(name)) {
        const auto back = naming::port_name_for(id->vmid, id->index);
        FUZZ_CHECK(back && *back == name);
    }
}

void check_numbers(std::uint32_t vmid, std::uint32_t index) {
    const auto name = naming::port_name_for(vmid, index);
    FUZZ_CHECK(name.has_value() == !naming::check_guest_id(vmid, index));
    if (!name) return;
    FUZZ_CHECK(naming::is_valid_ifname(*name) && name->size() <= 14);
    const auto id = naming::parse_port_name(*name);
    FUZZ_CHECK(id && id->vmid == vmid && id->index == index);
}

void check_template(std::string_view naming_template, std::string_view container,
                    std::uint32_t index, std::optional<std::uint32_t> vmid) {
    const auto syntax = naming::check_template(naming_template);
    const naming::RenderResult result =
        naming::render_template(naming_template, container, index, vmid);
    FUZZ_CHECK(result.name.has_value() != result.error.has_value());
    if (syntax) {
        FUZZ_CHECK(result.error && *result.error == *syntax);
    }
    if (result.error) {
        FUZZ_CHECK(!result.error->message().empty());
        return;
    }
    const std::string& name = *result.name;
    FUZZ_CHECK(!name.empty() && name.size() <= naming::kMaxIfnameLen);
    for (const char c : name) {
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    }
    FUZZ_CHECK(naming::is_valid_ifname(name));
    const naming::RenderResult again =
        naming::render_template(naming_template, container, index, vmid);
    FUZZ_CHECK(again.name == result.name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider input(data, size);
    const auto vmid = input.ConsumeIntegral<std::uint32_t>();
    const auto index = input.ConsumeIntegralInRange<std::uint32_t>(0, 40);
    const bool has_vmid = input.ConsumeBool();
    const std::string first = input.ConsumeRandomLengthString(64);
    const std::string second = input.ConsumeRemainingBytesAsString();

    check_ifname(first);
    check_ifname(second);
    check_guest_and_port(first);
    check_guest_and_port(second);
    check_numbers(vmid, index);
    check_numbers(vmid % 1'000'000'000, index);
    check_template(first, second, index,
                   has_vmid ? std::optional<std::uint32_t>(vmid) : std::nullopt);
    return 0;
}
