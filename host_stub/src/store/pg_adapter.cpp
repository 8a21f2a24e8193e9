#include "store/pg_adapter.hpp"

#include "store/secret_store.hpp"

#include <cctype>

namespace host {
namespace {

class PgRow final : public SqlRow {
public:
    PgRow(const PgResult& r, int row) : r_(r), row_(row) {}
    int64_t integer(int col) const override { return r_.integer(row_, col); }
    std::string text(int col) const override { return r_.text(row_, col); }
    std::vector<uint8_t> bytes(int col) const override { return r_.bytes(row_, col); }
    bool is_null(int col) const override { return r_.is_null(row_, col); }

private:
    const PgResult& r_;
    int row_;
};

void each_row(const PgResult& r, const SqlRowHandler& each) {
    if (!each) return;
    for (int i = 0; i < r.rows(); ++i) each(PgRow(r, i));
}

// The statement with the adapter's ?n parameters written as PostgreSQL's $n (string literals
// are left as they are).
std::string pg_placeholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size());
    bool in_literal = false;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        char c = sql[i];
        if (c == '\'') in_literal = !in_literal;  // '' inside a literal toggles twice: still inside
        if (!in_literal && c == '?' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])))
            c = '$';
        out += c;
    }
    return out;
}

}  // namespace

PgResult PgAdapter::run(std::string_view sql, SqlParams params, bool retry_if_reconnected) {
    std::vector<PgParam> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        switch (p.kind()) {
            case SqlValue::Kind::text:
                values.emplace_back(p.data());
                break;
            case SqlValue::Kind::integer:
                values.emplace_back(p.number());
                break;
            case SqlValue::Kind::bytes:
                values.push_back(PgParam::bytes(p.data()));
                break;
        }
    }
    return connection_->exec(pg_placeholders(sql), values, retry_if_reconnected);
}

int64_t PgAdapter::exec(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    PgResult r = run(sql, params, false);
    each_row(r, each);
    return r.affected();
}

void PgAdapter::read(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    each_row(run(sql, params, true), each);
}

bool PgAdapter::read_first(std::string_view sql, SqlParams params, const SqlRowHandler& each) {
    PgResult r = run(sql, params, true);
    if (r.rows() == 0) return false;
    each(PgRow(r, 0));
    return true;
}

void PgAdapter::begin() { connection_->exec("BEGIN"); }
void PgAdapter::commit() { connection_->exec("COMMIT"); }

void PgAdapter::rollback() noexcept {
    try {
        connection_->exec("ROLLBACK");
    } catch (const StoreError&) {
        // The connection is gone: so is the transaction.
    }
}

}  // namespace host
