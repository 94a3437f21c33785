#include "netwatch/rename.hpp"

#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "netwatch/error.hpp"
#include "netwatch/nl_handles.hpp"

namespace opa::netwatch {

namespace {

// The kernel's dev_valid_name().
bool valid_link_name(const std::string& name) {
    if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
    return std::none_of(name.begin(), name.end(), [](char c) {
        return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0;
    });
}

RenameResult failure(const std::string& old_name, const std::string& new_name, int error,
                     const std::string& step) {
    return {error,
            "rename " + old_name + " -> " + new_name + ": " + step + ": " + errno_text(error)};
}

int set_admin_up(nl_sock* socket, rtnl_link* link, bool up) {
    RtnlLinkPtr change = make_rtnl_link();
    if (!change) return -NLE_NOMEM;
    if (up) {
        rtnl_link_set_flags(change.get(), IFF_UP);
    } else {
        rtnl_link_unset_flags(change.get(), IFF_UP);
    }
    return rtnl_link_change(socket, link, change.get(), 0);
}

}  // namespace

RenameResult rename_link(const std::string& old_name, const std::string& new_name) {
    if (!valid_link_name(old_name)) return failure(old_name, new_name, EINVAL, "old name");
    if (!valid_link_name(new_name)) return failure(old_name, new_name, EINVAL, "new name");
    if (old_name == new_name) return {};

    NlSockPtr socket = make_nl_socket();
    if (!socket) return failure(old_name, new_name, ENOMEM, "netlink socket");
    if (int rc = nl_connect(socket.get(), NETLINK_ROUTE); rc < 0) {
        return failure(old_name, new_name, errno_from_libnl(rc), "connecting to rtnetlink");
    }
    rtnl_link* found = nullptr;
    if (int rc = rtnl_link_get_kernel(socket.get(), 0, old_name.c_str(), &found); rc < 0) {
        return failure(old_name, new_name, errno_from_libnl(rc), "looking up " + old_name);
    }
    RtnlLinkPtr link = adopt_rtnl_link(found);
    // Checked first so that a taken name does not cost the link a down/up flap; the kernel
    // checks again (a race still ends in EEXIST from the rename below).
    if (::if_nametoindex(new_name.c_str()) != 0) {
        return failure(old_name, new_name, EEXIST, new_name + " exists");
    }

    const bool was_up = (rtnl_link_get_flags(link.get()) & IFF_UP) != 0;
    if (was_up) {
        if (int rc = set_admin_up(socket.get(), link.get(), false); rc < 0) {
            return failure(old_name, new_name, errno_from_libnl(rc), "setting it down");
        }
    }
    RtnlLinkPtr change = make_rtnl_link();
    if (!change) return failure(old_name, new_name, ENOMEM, "rtnl_link_alloc");
    rtnl_link_set_name(change.get(), new_name.c_str());
    if (int rc = rtnl_link_change(socket.get(), link.get(), change.get(), 0); rc < 0) {
        const int error = errno_from_libnl(rc);
        // Leave it as we found it. The rename error is what the caller needs to hear.
        if (was_up) set_admin_up(socket.get(), link.get(), true);
        return failure(old_name, new_name, error, "renaming");
    }
    if (was_up) {
        if (int rc = set_admin_up(socket.get(), link.get(), true); rc < 0) {
            return failure(old_name, new_name, errno_from_libnl(rc),
                           "renamed, but bringing " + new_name + " up failed");
        }
    }
    return {};
}

LinkLookup look_up_link(const std::string& name) {
    LinkLookup result;
    if (!valid_link_name(name)) {
        result.error = EINVAL;
        return result;
    }
    NlSockPtr socket = make_nl_socket();
    if (!socket) {
        result.error = ENOMEM;
        return result;
    }
    if (int rc = nl_connect(socket.get(), NETLINK_ROUTE); rc < 0) {
        result.error = errno_from_libnl(rc);
        return result;
    }
    rtnl_link* found = nullptr;
    if (int rc = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &found); rc < 0) {
        result.error = errno_from_libnl(rc);
        return result;
    }
    RtnlLinkPtr link = adopt_rtnl_link(found);
    result.link.name = name;
    result.link.ifindex = rtnl_link_get_ifindex(link.get());
    result.link.flags = rtnl_link_get_flags(link.get());
    if (const char* kind = rtnl_link_get_type(link.get())) result.link.kind_name = kind;
    if (result.link.kind_name == "veth") {
        result.link.kind = LinkKind::Veth;
    } else if (result.link.kind_name == "tun") {
        result.link.kind = LinkKind::Tap;
    }
    result.link.controller_ifindex = rtnl_link_get_master(link.get());
    if (result.link.controller_ifindex > 0) {
        char controller[IF_NAMESIZE] = {};
        if (::if_indextoname(static_cast<unsigned>(result.link.controller_ifindex), controller)) {
            result.controller = controller;
        } else {
            result.controller = "ifindex " + std::to_string(result.link.controller_ifindex);
        }
    }
    return result;
}

}  // namespace opa::netwatch
