// Every libnl handle netwatch holds, owned by a unique_ptr with libnl's own deleter.
#pragma once

#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <memory>

namespace opa::netwatch {

using NlSockPtr = std::unique_ptr<nl_sock, decltype(&nl_socket_free)>;
using NlMsgPtr = std::unique_ptr<nl_msg, decltype(&nlmsg_free)>;
using RtnlLinkPtr = std::unique_ptr<rtnl_link, decltype(&rtnl_link_put)>;

inline NlSockPtr make_nl_socket() { return {nl_socket_alloc(), &nl_socket_free}; }
inline RtnlLinkPtr make_rtnl_link() { return {rtnl_link_alloc(), &rtnl_link_put}; }
inline RtnlLinkPtr adopt_rtnl_link(rtnl_link* link) { return {link, &rtnl_link_put}; }

}  // namespace opa::netwatch
