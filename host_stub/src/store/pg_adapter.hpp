// SqlAdapter over the host's PostgreSQL connection (PgConnection): ?n parameters become $n,
// integers and text go as text, bytes as binary bytea; reads are retried once on a new
// connection when the server went away, writes never (they may have committed).
#pragma once

#include "store/pg_database.hpp"
#include "store/sql_adapter.hpp"

#include <memory>

namespace host {

class PgAdapter final : public SqlAdapter {
public:
    explicit PgAdapter(std::shared_ptr<PgConnection> connection) : connection_(std::move(connection)) {}

    int64_t exec(std::string_view sql, SqlParams params = {}, const SqlRowHandler& each = {}) override;
    void read(std::string_view sql, SqlParams params, const SqlRowHandler& each) override;
    bool read_first(std::string_view sql, SqlParams params, const SqlRowHandler& each) override;
    void begin() override;
    void commit() override;
    void rollback() noexcept override;
    std::string where() const override { return "store postgresql"; }

private:
    PgResult run(std::string_view sql, SqlParams params, bool retry_if_reconnected);

    std::shared_ptr<PgConnection> connection_;
};

}  // namespace host
