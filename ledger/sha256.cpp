#include "ledger/sha256.hpp"

#include <openssl/evp.h>

#include "ledger/entry.hpp"

namespace opa::ledger {

namespace {

// Fetching the algorithm once avoids OpenSSL 3's implicit fetch on every EVP_DigestInit_ex.
struct MdDeleter {
    void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};

const EVP_MD* sha256_algorithm() {
    static const std::unique_ptr<EVP_MD, MdDeleter> algorithm{
        EVP_MD_fetch(nullptr, "SHA256", nullptr)};
    if (!algorithm) throw LedgerError("ledger: OpenSSL has no SHA256 implementation");
    return algorithm.get();
}

}  // namespace

void Sha256::ContextDeleter::operator()(evp_md_ctx_st* context) const noexcept {
    EVP_MD_CTX_free(context);
}

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
    if (!context_) throw LedgerError("ledger: EVP_MD_CTX_new failed");
    reset();
}

Sha256::~Sha256() = default;

void Sha256::reset() {
    if (EVP_DigestInit_ex(context_.get(), sha256_algorithm(), nullptr) != 1)
        throw LedgerError("ledger: EVP_DigestInit_ex(SHA256) failed");
}

void Sha256::update(std::string_view bytes) {
    if (bytes.empty()) return;
    if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1)
        throw LedgerError("ledger: EVP_DigestUpdate failed");
}

void Sha256::finish_hex(char (&hex_out)[64]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_.get(), digest, &length) != 1 || length != 32)
        throw LedgerError("ledger: EVP_DigestFinal_ex failed");
    static constexpr char kHexDigits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < 32; ++i) {
        hex_out[2 * i] = kHexDigits[digest[i] >> 4];
        hex_out[2 * i + 1] = kHexDigits[digest[i] & 0x0f];
    }
    reset();
}

std::string Sha256::finish_hex() {
    char hex[64];
    finish_hex(hex);
    return std::string(hex, sizeof hex);
}

}  // namespace opa::ledger
