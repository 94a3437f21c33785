#include "mount/logging.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>

namespace opa::mount {
namespace {

bool journal_mode = false;

int syslog_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return 7;
        case spdlog::level::info:
            return 6;
        case spdlog::level::warn:
            return 4;
        case spdlog::level::err:
            return 3;
        case spdlog::level::critical:
            return 2;
        default:
            return 6;
    }
}

}  // namespace

bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
    struct stat st {};
    if (::fstat(2, &st) != 0) return false;
    return st.st_dev == device && st.st_ino == inode;
}

void setup_logging(bool verbose) {
    journal_mode = stderr_is_journal();
    std::shared_ptr<spdlog::logger> logger;
    if (journal_mode) {
        logger = std::make_shared<spdlog::logger>(
            "ovs-port-agent", std::make_shared<spdlog::sinks::systemd_sink_mt>("ovs-port-agent"));
        logger->set_pattern("%v");
    } else {
        logger = spdlog::stderr_color_mt("ovs-port-agent");
        logger->set_pattern("%^%l%$: %v");
    }
    logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

std::vector<std::string> port_event_fields(spdlog::level::level_enum level,
                                           const std::string& bridge, const std::string& port,
                                           std::optional<std::uint32_t> vmid,
                                           const std::string& message) {
    std::vector<std::string> fields = {
        "MESSAGE=port " + port + ": " + message,
        "PRIORITY=" + std::to_string(syslog_priority(level)),
        "SYSLOG_IDENTIFIER=ovs-port-agent",
        "PORT=" + port,
        "BRIDGE=" + bridge,
    };
    if (vmid) fields.push_back("VMID=" + std::to_string(*vmid));
    return fields;
}

void log_port_event(spdlog::level::level_enum level, const std::string& bridge,
                    const std::string& port, std::optional<std::uint32_t> vmid,
                    const std::string& message) {
    if (!spdlog::should_log(level)) return;
    if (!journal_mode) {
        spdlog::log(level, "port {}: {}", port, message);
        return;
    }
    const std::vector<std::string> fields = port_event_fields(level, bridge, port, vmid, message);
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const std::string& field : fields) {
        iov.push_back({const_cast<char*>(field.data()), field.size()});
    }
    if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0) {
        spdlog::log(level, "port {}: {}", port, message);  // the journal refused: plain line
    }
}

}  // namespace opa::mount
