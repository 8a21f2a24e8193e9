#include "store/sqlite_adapter.hpp"

namespace host {
namespace {

class SqliteRow final : public SqlRow {
public:
    explicit SqliteRow(const Statement& s) : s_(s) {}
    int64_t integer(int col) const override { return s_.column_int(col); }
    std::string text(int col) const override { return s_.column_text(col); }
    std::vector<uint8_t> bytes(int col) const override {
        auto blob = s_.column_blob(col);
        return {blob.begin(), blob.end()};
    }
    bool is_null(int col) const override { return s_.column_is_null(col); }

private:
    const Statement& s_;
};

// Resets the statement however its run ends (a handler may throw), so that it holds no read
// transaction open and is ready for its next run.
struct ResetWhenDone {
    Statement& s;
    ~ResetWhenDone() { s.reset(); }
};

}  // namespace

Statement& SqliteAdapter::prepared(std::string_view sql, SqlParams params) {
    auto it = statements_.find(sql);
    if (it == statements_.end())
        it = statements_.emplace(std::string(sql), std::make_unique<Statement>(*db_, sql)).first;
    Statement& s = *it->second;
    int index = 1;
    for (const auto& p : params) {
        switch (p.kind()) {
            case SqlValue::Kind::text:
                s.bind(index, p.data());
                break;
            case SqlValue::Kind::integer:
                s.bind(index, p.number());
                break;
            case SqlValue::Kind::bytes:
                s.bind(index,
                       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data().data()), p.data().size()));
                break;
        }
        ++index;
    }
    return s;
}

void SqliteAdapter::run(Statement& s, const SqlRowHandler& each) {
    ResetWhenDone reset{s};
    SqliteRow row(s);
    while (s.step())
        if (each) each(row);
}

int64_t SqliteAdapter::exec(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    run(prepared(sql, params), each);
    return db_->changes();
}

void SqliteAdapter::read(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    run(prepared(sql, params), each);
}

bool SqliteAdapter::read_first(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    Statement& s = prepared(sql, params);
    ResetWhenDone reset{s};
    if (!s.step()) return false;
    each(SqliteRow(s));
    return true;
}

void SqliteAdapter::begin() { db_->exec("BEGIN IMMEDIATE"); }
void SqliteAdapter::commit() { db_->exec("COMMIT"); }
void SqliteAdapter::rollback() noexcept { sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr); }

}  // namespace host
