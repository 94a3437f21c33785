// Fuzz target: agent/proxmox_config's guest config parser (the netN: lines of
// /etc/pve/lxc/VMID.conf and /etc/pve/qemu-server/VMID.conf).
// Properties, from proxmox_config.hpp: parse_guest_config never throws; NICs are sorted by index,
// one per index, index 0..31; a tag is 1..4094; trunk ranges are a <= b within 1..4094.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/naming.hpp"
#include "agent/proxmox_config.hpp"
#include "fuzz_check.hpp"

namespace proxmox = opa::proxmox;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const proxmox::GuestConfig config = proxmox::parse_guest_config(text);
    for (std::size_t i = 0; i < config.nics.size(); ++i) {
        const proxmox::GuestNicConfig& nic = config.nics[i];
        FUZZ_CHECK(nic.index <= opa::naming::kMaxNicIndex);
        if (i > 0) FUZZ_CHECK(config.nics[i - 1].index < nic.index);
        if (nic.tag) FUZZ_CHECK(*nic.tag >= proxmox::kMinVlanId && *nic.tag <= proxmox::kMaxVlanId);
        for (const auto& [first, last] : nic.trunks) {
            FUZZ_CHECK(first >= proxmox::kMinVlanId && first <= last &&
                       last <= proxmox::kMaxVlanId);
        }
    }
    for (const auto& problem : config.problems) FUZZ_CHECK(!problem.empty());
    return 0;
}
