// Fuzz target: what the agent reads from OVSDB and NetworkManager that others may have written
// (netwatch/ovsdb: the JSON-RPC stream split into texts, monitor replies and updates applied to
// the tables; nm/external_ids: a VMID read back from an external id).
// Properties: nothing but std::invalid_argument (a malformed update) comes out of apply, and a
// malformed update changes nothing; every port listed has a valid interface name and VLANs
// 0..4095; a VMID read back is the canonical spelling of a number 1..999999999.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "agent/naming.hpp"
#include "fuzz_check.hpp"
#include "netwatch/ovsdb.hpp"
#include "nm/external_ids.hpp"

namespace {

void check_vmid(const std::string& text) {
    const auto vmid = opa::nm::parse_vmid(text);
    if (!vmid) return;
    FUZZ_CHECK(*vmid >= 1 && *vmid <= 999'999'999);
    FUZZ_CHECK(std::to_string(*vmid) == text);
}

void check_tables(const opa::netwatch::OvsdbTables& tables) {
    for (const char* bridge : {"ovsbr0", "vmbr0"}) {
        for (const auto& port : tables.ports_on(bridge)) {
            FUZZ_CHECK(opa::naming::is_valid_ifname(port.name));
            FUZZ_CHECK(port.name != bridge);
            FUZZ_CHECK(!port.tag || *port.tag <= 4095);
            for (std::uint16_t id : port.trunks) FUZZ_CHECK(id <= 4095);
            if (auto it = port.external_ids.find("vmid"); it != port.external_ids.end()) {
                check_vmid(it->second);
            }
        }
    }
    for (const auto& [uuid, row] : tables.rejected()) {
        FUZZ_CHECK(!opa::naming::is_valid_ifname(row.name));
        FUZZ_CHECK(!row.reason.empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider input(data, size);
    check_vmid(input.ConsumeRandomLengthString(16));
    opa::netwatch::JsonStreamSplitter splitter;
    splitter.feed(input.ConsumeRemainingBytesAsString());
    opa::netwatch::OvsdbTables tables;
    bool first = true;
    while (auto text = splitter.next()) {
        const nlohmann::json message = nlohmann::json::parse(*text, nullptr, false);
        if (message.is_discarded()) continue;
        // The first text is the monitor reply (the whole tables), the others updates.
        const auto before_ports = tables.ports_on("ovsbr0");
        const auto before_rejected = tables.rejected();
        try {
            tables.apply(message, first);
        } catch (const std::invalid_argument&) {
            FUZZ_CHECK(tables.ports_on("ovsbr0") == before_ports);
            FUZZ_CHECK(tables.rejected() == before_rejected);
        }
        first = false;
        check_tables(tables);
    }
    return 0;
}
