// Open handles per user: a user at the limit is refused (and told once), root and other users
// are not, and closing one lets the user open again.
#include <gtest/gtest.h>

#include "fs/handle_quota.hpp"

namespace {

using opa::fs::HandleQuota;
using Admit = HandleQuota::Admit;

TEST(FsHandleQuota, AUserAtTheLimitIsRefusedAloneAndToldOnce) {
    HandleQuota quota(3);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(quota.acquire(65534), Admit::Yes);
    EXPECT_EQ(quota.acquire(65534), Admit::NoFirst);
    EXPECT_EQ(quota.acquire(65534), Admit::No);
    EXPECT_EQ(quota.held(65534), 3u);
    // Nobody else is affected: another user, and root whatever it holds.
    EXPECT_EQ(quota.acquire(1000), Admit::Yes);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(quota.acquire(0), Admit::Yes);
    EXPECT_EQ(quota.held(0), 10u);

    quota.release(65534);
    EXPECT_EQ(quota.held(65534), 2u);
    EXPECT_EQ(quota.acquire(65534), Admit::Yes);
    EXPECT_EQ(quota.acquire(65534), Admit::NoFirst);  // a new episode is reported again
    for (int i = 0; i < 3; ++i) quota.release(65534);
    EXPECT_EQ(quota.held(65534), 0u);
    quota.release(65534);  // more releases than handles change nothing
    EXPECT_EQ(quota.held(65534), 0u);
}

}  // namespace
