// netwatch's one exception: a setup failure (socket, bind, subscription, first dump request).
// Everything after setup is reported, not thrown: notes in batches, RenameResult.
#pragma once

#include <stdexcept>
#include <string>

namespace opa::netwatch {

class NetwatchError : public std::runtime_error {
  public:
    NetwatchError(const std::string& what, int error) : std::runtime_error(what), error_(error) {}
    int error() const noexcept { return error_; }  // a positive errno

  private:
    int error_;
};

// libnl returns its own negative NLE_* codes; callers here speak errno. Maps an NLE_* code
// (either sign) back to the errno the kernel most likely sent; EIO when there is none.
int errno_from_libnl(int nl_error);
// "<strerror> (<ERRNAME>)" for a positive errno, e.g. "File exists (EEXIST)".
std::string errno_text(int error);

}  // namespace opa::netwatch
