#include "host_database.hpp"

namespace host {

HostDatabase HostDatabase::open(const std::filesystem::path& path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
    }
    auto db = std::make_shared<SqliteDb>(path);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA secure_delete=ON");
    db->exec("PRAGMA foreign_keys=ON");
    return HostDatabase{std::move(db), std::make_shared<std::mutex>()};
}

}  // namespace host
