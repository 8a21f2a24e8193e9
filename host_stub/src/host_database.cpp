#include "host_database.hpp"

#include "secret_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace host {

HostDatabase HostDatabase::open(const std::filesystem::path& path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
    }
    // The file holds encrypted tokens and every user's outbox: only its owner reads it. Created
    // 0600 before SQLite opens it (SQLite gives the -wal and -shm files the same mode); files
    // an older version left readable by others are narrowed.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw StoreError("store " + path.string() + ": cannot open: " + std::strerror(errno));
    ::close(fd);
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::permissions(path.string() + suffix, std::filesystem::perms::group_all | std::filesystem::perms::others_all,
                                     std::filesystem::perm_options::remove, ec);
    }
    auto db = std::make_shared<SqliteDb>(path);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA secure_delete=ON");
    db->exec("PRAGMA foreign_keys=ON");
    return HostDatabase{std::move(db), std::make_shared<std::mutex>()};
}

}  // namespace host
