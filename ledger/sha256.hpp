#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace opa::ledger {

// Incremental SHA-256 over OpenSSL EVP. One object can hash many messages in a row
// (reset() between them), which keeps the verifier free of per-line allocations.
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void reset();
    void update(std::string_view bytes);
    // Writes 64 lowercase hex digits into `hex_out` and resets for the next message.
    void finish_hex(char (&hex_out)[64]);
    std::string finish_hex();

  private:
    struct ContextDeleter {
        void operator()(evp_md_ctx_st* context) const noexcept;
    };
    std::unique_ptr<evp_md_ctx_st, ContextDeleter> context_;
};

}  // namespace opa::ledger
