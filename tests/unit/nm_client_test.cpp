// Pure parts of the NetworkManager client.
#include <gtest/gtest.h>

#include "nm/nm_client.hpp"

namespace {

TEST(NmClient, MissingOvsMessageTellsWhatToDo) {
    const opa::nm::DaemonInfo without_ovs{"1.42.4", {1}};
    EXPECT_FALSE(without_ovs.has_ovs());
    const std::string message = opa::nm::ovs_missing_message(without_ovs);
    EXPECT_NE(message.find("scripts/build-nm-ovs.sh"), std::string::npos) << message;
    EXPECT_NE(message.find("1.42.4"), std::string::npos) << message;
}

}  // namespace
