// SqlAdapter over the host's SQLite connection (SqliteDb). Statements are prepared once and
// kept, keyed by their text: the host's SQL is a fixed set of statements, run again and again.
#pragma once

#include "store/sql_adapter.hpp"
#include "store/sqlite_db.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace host {

class SqliteAdapter final : public SqlAdapter {
public:
    explicit SqliteAdapter(std::shared_ptr<SqliteDb> db) : db_(std::move(db)) {}

    int64_t exec(std::string_view sql, SqlParams params = {}, const SqlRowHandler& each = {}) override;
    void read(std::string_view sql, SqlParams params, const SqlRowHandler& each) override;
    bool read_first(std::string_view sql, SqlParams params, const SqlRowHandler& each) override;
    void begin() override;
    void commit() override;
    void rollback() noexcept override;
    std::string where() const override { return "store " + db_->path().string(); }

private:
    // Looks statements up by their text without copying it.
    struct TextHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
    };

    Statement& prepared(std::string_view sql, SqlParams params);
    void run(Statement& s, const SqlRowHandler& each);

    std::shared_ptr<SqliteDb> db_;
    std::unordered_map<std::string, std::unique_ptr<Statement>, TextHash, std::equal_to<>> statements_;
};

}  // namespace host
