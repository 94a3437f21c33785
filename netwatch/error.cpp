#include "netwatch/error.hpp"

#include <netlink/errno.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace opa::netwatch {

int errno_from_libnl(int nl_error) {
    switch (std::abs(nl_error)) {
        case 0:
            return 0;
        case NLE_EXIST:
            return EEXIST;
        case NLE_BUSY:
            return EBUSY;
        case NLE_NODEV:
            return ENODEV;
        case NLE_OBJ_NOTFOUND:
            return ENODEV;  // ENOENT/ESRCH from the kernel, or no such link
        case NLE_PERM:
            return EPERM;
        case NLE_NOACCESS:
            return EACCES;
        case NLE_INVAL:
            return EINVAL;
        case NLE_RANGE:
            return ERANGE;
        case NLE_NOMEM:
            return ENOMEM;
        case NLE_AGAIN:
            return EAGAIN;
        case NLE_INTR:
            return EINTR;
        case NLE_BAD_SOCK:
            return EBADF;
        case NLE_OPNOTSUPP:
            return EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
            return EAFNOSUPPORT;
        case NLE_PROTO_MISMATCH:
            return EPROTONOSUPPORT;
        case NLE_NOADDR:
            return EADDRNOTAVAIL;
        default:
            break;
    }
    return EIO;
}

std::string errno_text(int error) {
    std::string text = std::strerror(error);
    if (const char* name = strerrorname_np(error)) text += std::string(" (") + name + ")";
    return text;
}

}  // namespace opa::netwatch
