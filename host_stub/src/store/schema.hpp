// Schema migrations: each engine lists its migrations in order, each one applied in the same
// transaction as the schema_version row that records it. A host refuses a database whose
// schema is newer than the last migration it knows: an older binary must not write tables it
// does not understand (after a rollback, say).
#pragma once

#include "store/secret_store.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace host {

struct Migration {
    int version;
    std::vector<std::string_view> statements;
};

[[noreturn]] inline void refuse_newer_schema(const std::string& where, int64_t found, int known) {
    throw StoreError("store " + where + ": the database schema is version " + std::to_string(found) +
                     ", newer than this host knows (" + std::to_string(known) +
                     "); a newer host_stub has upgraded it: run that version (or restore a backup made for this one)");
}

}  // namespace host
