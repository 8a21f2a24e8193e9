/* A provider in pure C11, against ep_abi.h alone: the smallest complete plugin.
 *
 * It "connects" an account at once (no sign-in: begin_connect answers with a status) and
 * keeps that fact in the host's secret store, and it "sends" by completing every accepted
 * message as "sent" on a thread of its own, which is what the ABI asks of a real provider
 * (the callback never runs inside send). The host validates every message document before a
 * provider sees it (CONTRACT.md EP_HOST_9), so this provider does not parse messages.
 *
 * Configuration: a JSON object, ignored (pass {}).
 * Built by examples/c_provider/CMakeLists.txt with email_provider_plugin(): only ep_negotiate
 * is exported. Also built from every released ep_abi.h by tests/CMakeLists.txt, as the
 * provider "of that release" that today's host must still load. */
#include <email_provider/ep_abi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define PROVIDER_ID "c_example"

struct ep_instance {
    const ep_host_api* host;
    mtx_t lock;
    cnd_t idle;
    int in_flight;      /* accepted sends whose callback has not returned yet */
    unsigned long sent; /* numbers the request ids */
};

/* ---- Documents ------------------------------------------------------------------------- */

/* A growable string; on allocation failure it stays failed and yields nothing. */
typedef struct {
    char* data;
    size_t len, cap;
    int failed;
} buffer;

static void put(buffer* b, const char* s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char* p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put_text(buffer* b, const char* s) { put(b, s, strlen(s)); }

/* Appends `s` as a JSON string (with quotes). Account ids are UTF-8 without control
 * characters (checked by valid_account), so only '"' and '\\' need escaping. */
static void put_json_string(buffer* b, ep_str s) {
    put(b, "\"", 1);
    for (size_t i = 0; i < s.len; ++i) {
        if (s.data[i] == '"' || s.data[i] == '\\') put(b, "\\", 1);
        put(b, s.data + i, 1);
    }
    put(b, "\"", 1);
}

/* Hands the buffer to the host as an ep_owned_str (released by free_str). */
static ep_status finish(buffer* b, ep_owned_str* out, ep_status status) {
    out->data = NULL;
    out->len = 0;
    if (b->failed) {
        free(b->data);
        return EP_ERR_NO_MEMORY;
    }
    out->data = b->data;
    out->len = b->len;
    return status;
}

static ep_status error(ep_owned_str* out, ep_status status, const char* code, const char* message) {
    buffer b = {0};
    put_text(&b, "{\"error\":{\"code\":\"");
    put_text(&b, code);
    put_text(&b, "\",\"message\":\"");
    put_text(&b, message);
    put_text(&b, "\"}}");
    return finish(&b, out, status);
}

static void put_status(buffer* b, ep_str account, int connected) {
    put_text(b, "{\"schema\":\"ep.status/1\",\"provider\":\"" PROVIDER_ID "\",\"account\":");
    put_json_string(b, account);
    put_text(b, connected ? ",\"state\":\"connected\"}" : ",\"state\":\"not_connected\"}");
}

/* ---- Accounts, in the host's secret store ------------------------------------------------- */

static int valid_account(ep_str account) {
    if (account.data == NULL || account.len == 0 || account.len > 256) return 0;
    for (size_t i = 0; i < account.len; ++i)
        if ((unsigned char)account.data[i] < 0x20 || account.data[i] == 0x7f) return 0;
    return 1;
}

/* The store key of an account: "connected/<account>". */
static int account_key(ep_str account, char* key, size_t size) {
    int n = snprintf(key, size, "connected/%.*s", (int)account.len, account.data);
    return n > 0 && (size_t)n < size;
}

static void EP_CALL ignore_blob(void* ctx, ep_bytes blob, uint64_t version) {
    (void)ctx;
    (void)blob;
    (void)version;
}

/* 1 connected, 0 not, -1 the store failed. */
static int is_connected(ep_instance* in, const char* key) {
    ep_status s = in->host->secret_get(in->host->host_ctx, (ep_str){key, strlen(key)}, ignore_blob, NULL);
    return s == EP_OK ? 1 : s == EP_ERR_NOT_FOUND ? 0 : -1;
}

/* ---- The provider table -------------------------------------------------------------------- */

static void EP_CALL free_str(ep_owned_str* s) {
    if (s == NULL) return;
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

static ep_status EP_CALL create(const ep_host_api* host, ep_str config, ep_instance** instance, ep_owned_str* out) {
    (void)config;
    *instance = NULL;
    out->data = NULL;
    out->len = 0;
    /* Adopt the host's table only if it has every function this provider calls. */
    if (host == NULL ||
        host->struct_size < offsetof(ep_host_api, secret_delete_prefix) + sizeof host->secret_delete_prefix)
        return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_host_api", "the host services table is too small");
    ep_instance* in = calloc(1, sizeof *in);
    if (in == NULL) return EP_ERR_NO_MEMORY;
    if (mtx_init(&in->lock, mtx_plain) != thrd_success || cnd_init(&in->idle) != thrd_success) {
        free(in);
        return error(out, EP_ERR_INTERNAL, "internal", "cannot create a mutex");
    }
    in->host = host;
    *instance = in;
    return EP_OK;
}

static void EP_CALL destroy(ep_instance* in) {
    if (in == NULL) return;
    /* The ABI: every accepted send has had its callback before destroy returns. */
    mtx_lock(&in->lock);
    while (in->in_flight > 0) cnd_wait(&in->idle, &in->lock);
    mtx_unlock(&in->lock);
    cnd_destroy(&in->idle);
    mtx_destroy(&in->lock);
    free(in);
}

static ep_status EP_CALL begin_connect(ep_instance* in, ep_str account, ep_str request, ep_owned_str* out) {
    (void)request;
    char key[300];
    if (!valid_account(account) || !account_key(account, key, sizeof key))
        return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_account",
                     "the account id is empty, too long or has control characters");
    uint64_t version = 0;
    ep_status s = in->host->secret_put(in->host->host_ctx, (ep_str){key, strlen(key)},
                                       (ep_bytes){(const uint8_t*)"1", 1}, 0, &version);
    if (s != EP_OK && s != EP_ERR_CONFLICT) /* a conflict: already connected */
        return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    buffer b = {0};
    put_text(&b, "{\"action\":\"none\",\"status\":");
    put_status(&b, account, 1);
    put_text(&b, "}");
    return finish(&b, out, EP_OK);
}

static ep_status EP_CALL complete_connect(ep_instance* in, ep_str account, ep_str callback, ep_owned_str* out) {
    (void)in;
    (void)account;
    (void)callback;
    return error(out, EP_ERR_UNSUPPORTED, "unsupported",
                 "this provider connects at once: there is no callback to complete");
}

static ep_status EP_CALL get_status(ep_instance* in, ep_str account, ep_owned_str* out) {
    char key[300];
    if (!valid_account(account) || !account_key(account, key, sizeof key))
        return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_account",
                     "the account id is empty, too long or has control characters");
    int connected = is_connected(in, key);
    if (connected < 0) return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    buffer b = {0};
    put_status(&b, account, connected);
    return finish(&b, out, EP_OK);
}

static ep_status EP_CALL disconnect(ep_instance* in, ep_str account, ep_owned_str* out) {
    char key[300];
    if (!valid_account(account) || !account_key(account, key, sizeof key))
        return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_account",
                     "the account id is empty, too long or has control characters");
    if (in->host->secret_delete(in->host->host_ctx, (ep_str){key, strlen(key)}, 0) != EP_OK)
        return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    buffer b = {0};
    put_text(&b, "{\"disconnected\":true,\"status\":");
    put_status(&b, account, 0);
    put_text(&b, "}");
    return finish(&b, out, EP_OK);
}

/* One accepted send: completed on its own thread, never inside send. */
typedef struct {
    ep_instance* in;
    ep_send_callback callback;
    void* callback_ctx;
    unsigned long number;
} delivery;

static int deliver(void* arg) {
    delivery* d = arg;
    char result[160];
    int n = snprintf(result, sizeof result,
                     "{\"schema\":\"ep.send_result/1\",\"outcome\":\"sent\",\"request_id\":\"c-%lu\",\"attempts\":1}",
                     d->number);
    d->callback(d->callback_ctx, (ep_str){result, (size_t)n});
    ep_instance* in = d->in;
    free(d);
    mtx_lock(&in->lock);
    if (--in->in_flight == 0) cnd_broadcast(&in->idle);
    mtx_unlock(&in->lock);
    return 0;
}

static ep_status refuse(ep_owned_str* out, ep_status status, const char* outcome, const char* code,
                        const char* message) {
    buffer b = {0};
    put_text(&b, "{\"schema\":\"ep.send_result/1\",\"outcome\":\"");
    put_text(&b, outcome);
    put_text(&b, "\",\"code\":\"");
    put_text(&b, code);
    put_text(&b, "\",\"message\":\"");
    put_text(&b, message);
    put_text(&b, "\"}");
    return finish(&b, out, status);
}

static ep_status EP_CALL send(ep_instance* in, ep_str account, ep_str message, ep_send_callback callback,
                              void* callback_ctx, ep_owned_str* out) {
    (void)message;
    char key[300];
    if (!valid_account(account) || !account_key(account, key, sizeof key))
        return refuse(out, EP_ERR_INVALID_ARGUMENT, "rejected", "invalid_account", "the account id is not valid");
    if (callback == NULL) return refuse(out, EP_ERR_INVALID_ARGUMENT, "rejected", "invalid_argument", "no callback");
    int connected = is_connected(in, key);
    if (connected < 0) return refuse(out, EP_ERR_STORAGE, "transient", "storage", "the host's secret store failed");
    if (!connected)
        return refuse(out, EP_ERR_INVALID_ARGUMENT, "rejected", "not_connected", "the account is not connected");

    delivery* d = malloc(sizeof *d);
    if (d == NULL) return refuse(out, EP_ERR_NO_MEMORY, "transient", "no_memory", "out of memory");
    mtx_lock(&in->lock);
    *d = (delivery){in, callback, callback_ctx, ++in->sent};
    ++in->in_flight;
    mtx_unlock(&in->lock);
    thrd_t t;
    if (thrd_create(&t, deliver, d) != thrd_success) {
        mtx_lock(&in->lock);
        --in->in_flight;
        mtx_unlock(&in->lock);
        free(d);
        return refuse(out, EP_ERR_BUSY, "transient", "no_thread", "cannot start a thread; try again");
    }
    thrd_detach(t);
    out->data = NULL;
    out->len = 0;
    return EP_OK;
}

static const ep_provider_api table = {
    .struct_size = sizeof(ep_provider_api),
    .abi_major = EP_ABI_VERSION_MAJOR,
    .abi_minor = EP_ABI_VERSION_MINOR,
    .capabilities = 0,
    .create = create,
    .destroy = destroy,
    .begin_connect = begin_connect,
    .complete_connect = complete_connect,
    .get_status = get_status,
    .disconnect = disconnect,
    .forget_account = disconnect, /* nothing else is kept about an account */
    .send = send,
    .free_str = free_str,
};

EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io) {
    if (io == NULL || io->struct_size < offsetof(ep_negotiation, provider_version) + sizeof io->provider_version)
        return EP_ERR_INVALID_ARGUMENT;
    io->plugin_abi_major = EP_ABI_VERSION_MAJOR;
    io->plugin_abi_minor = EP_ABI_VERSION_MINOR;
    io->provider_name = "Example C provider";
    io->provider_version = "1.0.0";
    if (io->host_abi_major != EP_ABI_VERSION_MAJOR) {
        io->provider = NULL;
        return EP_ERR_INCOMPATIBLE;
    }
    io->provider = &table;
    return EP_OK;
}
