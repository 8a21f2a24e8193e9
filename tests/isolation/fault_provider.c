/* A provider that misbehaves on purpose, for the isolation tests (plugin_api/ISOLATION.md).
 * Pure C11 against ep_abi.h alone, like examples/c_provider: what a third party would write.
 *
 * Configuration (a JSON object; every key optional):
 *   "fault":         which fault to inject (below); "none" or absent: a correct provider.
 *   "fault_account": inject call faults only for this account; others are served correctly,
 *                    so that a test can see the restarted runner answer.
 *   "sent_log":      a file that gets one line per message reported sent (its
 *                    client_request_id), appended with one write(2) just before the callback:
 *                    the tests count sends, and find duplicates, in it.
 *   "trace_log":     a file that gets a line "created_pid <pid>" per instance created (the
 *                    tests find, count and kill runners by it) and one per fault fired (what
 *                    it reached before dying).
 *   "send_delay_ms": how long a send takes between being accepted and reported sent.
 * Faults: segv_in_send, segv_on_completion_thread, abort_in_create, abort_in_begin_connect,
 *   loop_in_get_status, loop_in_check_connection, send_never_calls_back, memory_hog (in
 *   get_status: allocates and touches 1 MiB blocks until malloc fails, then aborts as a
 *   program that assumes malloc succeeds would; stops at 2 GiB and hangs instead, so a missing
 *   limit cannot take the machine's memory), fd_leak (in get_status: opens /dev/null until
 *   open fails, then aborts), garbage_on_channel and closes_channel (in get_status: writes a
 *   line that is not JSON-RPC to descriptor 3, or closes it: a plugin that scribbles on a
 *   descriptor it does not own, which in a runner is the channel, ISOLATION.md).
 *
 * Faults while loading are separate libraries built from this file (tests/CMakeLists.txt):
 * FAULT_CONSTRUCTOR_ABORTS, FAULT_CONSTRUCTOR_EXITS (a library constructor that calls abort()
 * or exit(0)) and FAULT_NEGOTIATE_SEGV (ep_negotiate dereferences a null pointer).
 *
 * It uses POSIX threads, not C11 <threads.h> as the C example does: GCC 12's ThreadSanitizer
 * does not see C11 threads (glibc's thrd_create and mtx_lock bypass the pthread functions it
 * intercepts), and this provider runs in the TSan stage.
 *
 * A provider this small reads its configuration by hand: the ABI gives it a JSON text and
 * nothing to read it with, and a test provider should depend on nothing else. It reads flat
 * keys only, with the escapes \" \\ \/ in strings. */
#define _POSIX_C_SOURCE 200809L
#include <email_provider/ep_abi.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROVIDER_ID "fault"
#define MAX_ACCOUNT 256
#define MAX_PATH_LEN 4096

typedef enum {
    FAULT_NONE,
    FAULT_SEGV_IN_SEND,
    FAULT_SEGV_ON_COMPLETION_THREAD,
    FAULT_ABORT_IN_CREATE,
    FAULT_ABORT_IN_BEGIN_CONNECT,
    FAULT_LOOP_IN_GET_STATUS,
    FAULT_LOOP_IN_CHECK_CONNECTION,
    FAULT_SEND_NEVER_CALLS_BACK,
    FAULT_MEMORY_HOG,
    FAULT_FD_LEAK,
    FAULT_GARBAGE_ON_CHANNEL,
    FAULT_CLOSES_CHANNEL,
    FAULT_COUNT
} fault_kind;

static const char* const fault_names[] = {
    "none",
    "segv_in_send",
    "segv_on_completion_thread",
    "abort_in_create",
    "abort_in_begin_connect",
    "loop_in_get_status",
    "loop_in_check_connection",
    "send_never_calls_back",
    "memory_hog",
    "fd_leak",
    "garbage_on_channel",
    "closes_channel",
};
_Static_assert(sizeof fault_names / sizeof fault_names[0] == FAULT_COUNT, "a name for every fault, in order");

struct ep_instance {
    const ep_host_api* host;
    fault_kind fault;
    char fault_account[MAX_ACCOUNT + 1]; /* empty: every account */
    char sent_log[MAX_PATH_LEN];
    char trace_log[MAX_PATH_LEN];
    long send_delay_ms;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int in_flight; /* accepted sends and checks whose callback has not returned yet */
    /* send_never_calls_back: the sends it sits on, called back only by destroy (the ABI's last
     * word), so that the runner's context for them is not leaked at exit. */
    struct {
        ep_send_callback callback;
        void* ctx;
    } withheld[64];
    int withheld_count;
};

/* ---- Crashing and hanging, as real bugs do ------------------------------------------------- */

/* A real SIGSEGV, as a bad pointer gives, but raised: a null store would be reported by
 * UndefinedBehaviorSanitizer first in the sanitizer builds, as a bug of this provider rather than
 * the crash it simulates. */
static void segfault(void) { raise(SIGSEGV); }

/* An endless loop that sleeps, so that it costs the shared test machine no CPU: to the host a
 * call that never returns looks the same either way. */
static void hang(void) {
    for (;;) nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
}

static int open_log(const char* path) {
    return path[0] == '\0' ? -1 : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

/* One write per line: O_APPEND makes each land whole, even from several threads. */
static void write_line(int fd, const char* line) {
    if (fd < 0) return;
    ssize_t written = write(fd, line, strlen(line));
    (void)written;
}

static void append_line(const char* path, const char* line) {
    int fd = open_log(path);
    write_line(fd, line);
    if (fd >= 0) close(fd);
}

static void trace_to(int fd, const char* what, long count) {
    char line[160];
    snprintf(line, sizeof line, "%s %ld\n", what, count);
    write_line(fd, line);
}

static void trace(const ep_instance* in, const char* what, long count) {
    int fd = open_log(in->trace_log);
    trace_to(fd, what, count);
    if (fd >= 0) close(fd);
}

static void hog_memory(const ep_instance* in) {
    const size_t block = (size_t)1 << 20;
    for (long mib = 0; mib < 2048; ++mib) {
        char* p = malloc(block);
        if (p == NULL) {
            trace(in, "memory_hog_mib", mib);
            abort();
        }
        memset(p, 1, block); /* touched, so that it is really used */
    }
    trace(in, "memory_hog_unlimited", 2048);
    hang();
}

static void leak_descriptors(const ep_instance* in) {
    int log = open_log(in->trace_log); /* opened first: once the leak is done, nothing opens */
    for (long opened = 0;; ++opened) {
        if (open("/dev/null", O_RDONLY) < 0) {
            trace_to(log, errno == EMFILE ? "fd_leak_emfile" : "fd_leak_failed", opened);
            abort();
        }
    }
}

/* The runner's channel is descriptor 3 (ISOLATION.md "The channel"). */
enum { RUNNER_CHANNEL_FD = 3 };

static void scribble_on_channel(void) {
    static const char garbage[] = "this is not JSON-RPC\n";
    ssize_t written = write(RUNNER_CHANNEL_FD, garbage, sizeof garbage - 1);
    (void)written;
}

/* ---- Configuration --------------------------------------------------------------------------- */

/* Where the value of the top-level-looking key `"name"` starts, or NULL. */
static const char* find_value(const char* json, const char* name) {
    size_t n = strlen(name);
    for (const char* p = strchr(json, '"'); p != NULL; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, name, n) != 0 || p[n + 1] != '"') continue;
        const char* v = p + n + 2;
        while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') ++v;
        if (*v != ':') continue;
        ++v;
        while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') ++v;
        return v;
    }
    return NULL;
}

/* Reads a JSON string value into `out`; 0 when it is not one, too long or has other escapes. */
static int read_string(const char* v, char* out, size_t size) {
    if (v == NULL || *v != '"') return 0;
    size_t len = 0;
    for (++v; *v != '"'; ++v) {
        if (*v == '\0' || len + 1 >= size) return 0;
        if (*v == '\\') {
            ++v;
            if (*v != '"' && *v != '\\' && *v != '/') return 0;
        }
        out[len++] = *v;
    }
    out[len] = '\0';
    return 1;
}

static const char* read_config(ep_instance* in, const char* json) {
    char name[64] = "none";
    const char* v = find_value(json, "fault");
    if (v != NULL && !read_string(v, name, sizeof name)) return "fault";
    in->fault = (fault_kind)-1;
    for (size_t i = 0; i < sizeof fault_names / sizeof fault_names[0]; ++i)
        if (strcmp(name, fault_names[i]) == 0) in->fault = (fault_kind)i;
    if (in->fault == (fault_kind)-1) return "fault";
    if ((v = find_value(json, "fault_account")) && !read_string(v, in->fault_account, sizeof in->fault_account))
        return "fault_account";
    if ((v = find_value(json, "sent_log")) && !read_string(v, in->sent_log, sizeof in->sent_log)) return "sent_log";
    if ((v = find_value(json, "trace_log")) && !read_string(v, in->trace_log, sizeof in->trace_log)) return "trace_log";
    if ((v = find_value(json, "send_delay_ms"))) {
        char* end = NULL;
        in->send_delay_ms = strtol(v, &end, 10);
        if (end == v || in->send_delay_ms < 0 || in->send_delay_ms > 600000) return "send_delay_ms";
    }
    return NULL;
}

/* Whether `fault` fires for a call on `account`. */
static int fires(const ep_instance* in, fault_kind fault, ep_str account) {
    if (in->fault != fault) return 0;
    if (in->fault_account[0] == '\0') return 1;
    return strlen(in->fault_account) == account.len && memcmp(in->fault_account, account.data, account.len) == 0;
}

/* ---- Documents ------------------------------------------------------------------------------- */

static ep_status give(ep_owned_str* out, const char* text, ep_status status) {
    size_t n = strlen(text);
    out->data = malloc(n + 1);
    out->len = 0;
    if (out->data == NULL) return EP_ERR_NO_MEMORY;
    memcpy(out->data, text, n + 1);
    out->len = n;
    return status;
}

static ep_status error(ep_owned_str* out, ep_status status, const char* code, const char* message) {
    char doc[512];
    snprintf(doc, sizeof doc, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    return give(out, doc, status);
}

/* Account ids are printable ASCII without '"' and '\\' here (checked by valid_account), so
 * they go into documents as they are. */
static int valid_account(ep_str account) {
    if (account.data == NULL || account.len == 0 || account.len > MAX_ACCOUNT) return 0;
    for (size_t i = 0; i < account.len; ++i) {
        unsigned char c = (unsigned char)account.data[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return 0;
    }
    return 1;
}

/* The ep.status/1 document of `account`; `checked_at` (may be NULL) for check_connection. */
static void status_doc(char* doc, size_t size, ep_str account, int connected, const char* checked_at) {
    int n = snprintf(doc, size,
                     "{\"schema\":\"ep.status/1\",\"provider\":\"" PROVIDER_ID
                     "\",\"account\":\"%.*s\","
                     "\"state\":\"%s\"",
                     (int)account.len, account.data, connected ? "connected" : "not_connected");
    if (checked_at != NULL) n += snprintf(doc + n, size - (size_t)n, ",\"checked_at\":\"%s\"", checked_at);
    snprintf(doc + n, size - (size_t)n, "}");
}

/* ---- Accounts, in the host's secret store ---------------------------------------------------- */

static void account_key(ep_str account, char* key, size_t size) {
    snprintf(key, size, "connected/%.*s", (int)account.len, account.data);
}

static void EP_CALL ignore_blob(void* ctx, ep_bytes blob, uint64_t version) {
    (void)ctx;
    (void)blob;
    (void)version;
}

/* 1 connected, 0 not, -1 the store failed. */
static int is_connected(const ep_instance* in, ep_str account) {
    char key[MAX_ACCOUNT + 16];
    account_key(account, key, sizeof key);
    ep_status s = in->host->secret_get(in->host->host_ctx, (ep_str){key, strlen(key)}, ignore_blob, NULL);
    return s == EP_OK ? 1 : s == EP_ERR_NOT_FOUND ? 0 : -1;
}

/* ---- Work done on threads of the provider's own: sends and checks ------------------------ */

typedef struct {
    ep_instance* in;
    ep_send_callback send_done;   /* a send, or ... */
    ep_check_callback check_done; /* ... a check */
    void* callback_ctx;
    char account[MAX_ACCOUNT + 1];
    char client_request_id[160];
} job;

static void finish_job(job* j) {
    ep_instance* in = j->in;
    free(j);
    pthread_mutex_lock(&in->lock);
    if (--in->in_flight == 0) pthread_cond_broadcast(&in->idle);
    pthread_mutex_unlock(&in->lock);
}

static void complete_send(job* j) {
    ep_instance* in = j->in;
    if (in->send_delay_ms > 0)
        nanosleep(
            &(struct timespec){.tv_sec = in->send_delay_ms / 1000, .tv_nsec = (in->send_delay_ms % 1000) * 1000000L},
            NULL);
    if (fires(in, FAULT_SEGV_ON_COMPLETION_THREAD, (ep_str){j->account, strlen(j->account)})) segfault();
    char line[200];
    snprintf(line, sizeof line, "%s\n", j->client_request_id);
    append_line(in->sent_log, line);
    char result[320];
    int n = snprintf(result, sizeof result,
                     "{\"schema\":\"ep.send_result/1\",\"outcome\":\"sent\",\"request_id\":\"%s\",\"attempts\":1}",
                     j->client_request_id);
    j->send_done(j->callback_ctx, (ep_str){result, (size_t)n});
}

static void complete_check(job* j) {
    char checked_at[32];
    time_t now = time(NULL);
    struct tm utc;
    strftime(checked_at, sizeof checked_at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
    ep_str account = {j->account, strlen(j->account)};
    char doc[512];
    status_doc(doc, sizeof doc, account, is_connected(j->in, account) == 1, checked_at);
    j->check_done(j->callback_ctx, (ep_str){doc, strlen(doc)});
}

static void* run_job(void* arg) {
    job* j = arg;
    if (j->send_done != NULL)
        complete_send(j);
    else
        complete_check(j);
    finish_job(j);
    return NULL;
}

/* Starts `j` on a thread of its own; 0 when no thread could be started (j is freed). */
static int start_job(job* j) {
    pthread_mutex_lock(&j->in->lock);
    ++j->in->in_flight;
    pthread_mutex_unlock(&j->in->lock);
    pthread_t t;
    if (pthread_create(&t, NULL, run_job, j) != 0) {
        finish_job(j);
        return 0;
    }
    pthread_detach(t);
    return 1;
}

/* ---- The provider table ---------------------------------------------------------------------- */

static void EP_CALL free_str(ep_owned_str* s) {
    if (s == NULL) return;
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

static ep_status EP_CALL create(const ep_host_api* host, ep_str config, ep_instance** instance, ep_owned_str* out) {
    *instance = NULL;
    out->data = NULL;
    out->len = 0;
    if (host == NULL ||
        host->struct_size < offsetof(ep_host_api, secret_delete_prefix) + sizeof host->secret_delete_prefix)
        return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_host_api", "the host services table is too small");
    ep_instance* in = calloc(1, sizeof *in);
    char* text = calloc(1, config.len + 1);
    if (in == NULL || text == NULL) {
        free(in);
        free(text);
        return EP_ERR_NO_MEMORY;
    }
    if (config.len > 0) memcpy(text, config.data, config.len);
    const char* bad = read_config(in, text);
    free(text);
    if (bad != NULL) {
        free(in);
        char doc[200];
        snprintf(doc, sizeof doc,
                 "{\"error\":{\"code\":\"invalid_config\",\"field\":\"%s\",\"message\":\"%s is not valid\"}}", bad,
                 bad);
        return give(out, doc, EP_ERR_INVALID_ARGUMENT);
    }
    trace(in, "created_pid", (long)getpid()); /* tests find the runner to kill by it */
    if (in->fault == FAULT_ABORT_IN_CREATE) abort();
    if (pthread_mutex_init(&in->lock, NULL) != 0 || pthread_cond_init(&in->idle, NULL) != 0) {
        free(in);
        return error(out, EP_ERR_INTERNAL, "internal", "cannot create a mutex");
    }
    in->host = host;
    *instance = in;
    return EP_OK;
}

static void EP_CALL destroy(ep_instance* in) {
    if (in == NULL) return;
    pthread_mutex_lock(&in->lock);
    while (in->in_flight > 0) pthread_cond_wait(&in->idle, &in->lock);
    pthread_mutex_unlock(&in->lock);
    static const char cancelled[] =
        "{\"schema\":\"ep.send_result/1\",\"outcome\":\"transient\",\"code\":\"cancelled\"}";
    for (int i = 0; i < in->withheld_count; ++i)
        in->withheld[i].callback(in->withheld[i].ctx, (ep_str){cancelled, sizeof cancelled - 1});
    pthread_cond_destroy(&in->idle);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

static ep_status bad_account(ep_owned_str* out) {
    return error(out, EP_ERR_INVALID_ARGUMENT, "invalid_account",
                 "the account id is empty, too long or not printable ASCII");
}

static ep_status EP_CALL begin_connect(ep_instance* in, ep_str account, ep_str request, ep_owned_str* out) {
    (void)request;
    if (!valid_account(account)) return bad_account(out);
    if (fires(in, FAULT_ABORT_IN_BEGIN_CONNECT, account)) abort();
    char key[MAX_ACCOUNT + 16];
    account_key(account, key, sizeof key);
    uint64_t version = 0;
    ep_status s = in->host->secret_put(in->host->host_ctx, (ep_str){key, strlen(key)},
                                       (ep_bytes){(const uint8_t*)"1", 1}, 0, &version);
    if (s != EP_OK && s != EP_ERR_CONFLICT) /* a conflict: already connected */
        return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    char status[512], doc[600];
    status_doc(status, sizeof status, account, 1, NULL);
    snprintf(doc, sizeof doc, "{\"action\":\"none\",\"status\":%s}", status);
    return give(out, doc, EP_OK);
}

static ep_status EP_CALL complete_connect(ep_instance* in, ep_str account, ep_str callback, ep_owned_str* out) {
    (void)in;
    (void)account;
    (void)callback;
    return error(out, EP_ERR_UNSUPPORTED, "unsupported", "this provider connects at once");
}

static ep_status EP_CALL get_status(ep_instance* in, ep_str account, ep_owned_str* out) {
    if (!valid_account(account)) return bad_account(out);
    if (fires(in, FAULT_LOOP_IN_GET_STATUS, account)) hang();
    if (fires(in, FAULT_MEMORY_HOG, account)) hog_memory(in);
    if (fires(in, FAULT_FD_LEAK, account)) leak_descriptors(in);
    if (fires(in, FAULT_GARBAGE_ON_CHANNEL, account)) scribble_on_channel();
    if (fires(in, FAULT_CLOSES_CHANNEL, account)) close(RUNNER_CHANNEL_FD);
    int connected = is_connected(in, account);
    if (connected < 0) return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    char doc[512];
    status_doc(doc, sizeof doc, account, connected, NULL);
    return give(out, doc, EP_OK);
}

static ep_status EP_CALL disconnect(ep_instance* in, ep_str account, ep_owned_str* out) {
    if (!valid_account(account)) return bad_account(out);
    char key[MAX_ACCOUNT + 16];
    account_key(account, key, sizeof key);
    ep_status s = in->host->secret_delete(in->host->host_ctx, (ep_str){key, strlen(key)}, 0);
    if (s != EP_OK && s != EP_ERR_NOT_FOUND)
        return error(out, EP_ERR_STORAGE, "storage", "the host's secret store failed");
    char status[512], doc[600];
    status_doc(status, sizeof status, account, 0, NULL);
    snprintf(doc, sizeof doc, "{\"disconnected\":true,\"status\":%s}", status);
    return give(out, doc, EP_OK);
}

static ep_status refuse(ep_owned_str* out, ep_status status, const char* outcome, const char* code) {
    char doc[256];
    snprintf(doc, sizeof doc, "{\"schema\":\"ep.send_result/1\",\"outcome\":\"%s\",\"code\":\"%s\",\"message\":\"%s\"}",
             outcome, code, code);
    return give(out, doc, status);
}

static ep_status EP_CALL send(ep_instance* in, ep_str account, ep_str message, ep_send_callback callback,
                              void* callback_ctx, ep_owned_str* out) {
    if (!valid_account(account) || callback == NULL)
        return refuse(out, EP_ERR_INVALID_ARGUMENT, "rejected", "invalid_argument");
    if (fires(in, FAULT_SEGV_IN_SEND, account)) segfault();
    int connected = is_connected(in, account);
    if (connected != 1)
        return refuse(out, connected < 0 ? EP_ERR_STORAGE : EP_ERR_INVALID_ARGUMENT,
                      connected < 0 ? "transient" : "auth_expired", connected < 0 ? "storage" : "not_connected");
    out->data = NULL;
    out->len = 0;
    if (fires(in, FAULT_SEND_NEVER_CALLS_BACK, account)) { /* no callback before destroy */
        pthread_mutex_lock(&in->lock);
        int kept = in->withheld_count < 64;
        if (kept) {
            in->withheld[in->withheld_count].callback = callback;
            in->withheld[in->withheld_count++].ctx = callback_ctx;
        }
        pthread_mutex_unlock(&in->lock);
        return kept ? EP_OK : refuse(out, EP_ERR_BUSY, "throttled", "busy");
    }
    job* j = calloc(1, sizeof *j);
    char* text = j == NULL ? NULL : calloc(1, message.len + 1);
    if (text == NULL) {
        free(j);
        return refuse(out, EP_ERR_NO_MEMORY, "transient", "no_memory");
    }
    memcpy(text, message.data, message.len);
    const char* crid = find_value(text, "client_request_id");
    if (crid == NULL || !read_string(crid, j->client_request_id, sizeof j->client_request_id))
        snprintf(j->client_request_id, sizeof j->client_request_id, "none");
    free(text);
    j->in = in;
    j->send_done = callback;
    j->callback_ctx = callback_ctx;
    memcpy(j->account, account.data, account.len);
    return start_job(j) ? EP_OK : refuse(out, EP_ERR_BUSY, "transient", "no_thread");
}

static ep_status EP_CALL check_connection(ep_instance* in, ep_str account, ep_check_callback callback,
                                          void* callback_ctx) {
    if (!valid_account(account) || callback == NULL) return EP_ERR_INVALID_ARGUMENT;
    if (fires(in, FAULT_LOOP_IN_CHECK_CONNECTION, account)) hang();
    job* j = calloc(1, sizeof *j);
    if (j == NULL) return EP_ERR_NO_MEMORY;
    j->in = in;
    j->check_done = callback;
    j->callback_ctx = callback_ctx;
    memcpy(j->account, account.data, account.len);
    return start_job(j) ? EP_OK : EP_ERR_BUSY;
}

static ep_status EP_CALL get_sending_limits(ep_instance* in, ep_str account, ep_owned_str* out) {
    (void)in;
    (void)account;
    return error(out, EP_ERR_UNSUPPORTED, "unsupported", "this provider declares no sending limits");
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
    .check_connection = check_connection,
    .get_sending_limits = get_sending_limits,
};

/* ---- Faults while loading ------------------------------------------------------------------- */

#if defined(FAULT_CONSTRUCTOR_ABORTS) || defined(FAULT_CONSTRUCTOR_EXITS)
/* Runs when the library is loaded (dlopen), before the loader reaches ep_negotiate. */
__attribute__((constructor)) static void crash_while_loading(void) {
#ifdef FAULT_CONSTRUCTOR_ABORTS
    abort();
#else
    exit(0);
#endif
}
#endif

EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io) {
#ifdef FAULT_NEGOTIATE_SEGV
    segfault();
#endif
    if (io == NULL || io->struct_size < offsetof(ep_negotiation, provider_version) + sizeof io->provider_version)
        return EP_ERR_INVALID_ARGUMENT;
    io->plugin_abi_major = EP_ABI_VERSION_MAJOR;
    io->plugin_abi_minor = EP_ABI_VERSION_MINOR;
    io->provider_name = "Fault-injecting test provider";
    io->provider_version = "1.0.0";
    if (io->host_abi_major != EP_ABI_VERSION_MAJOR) {
        io->provider = NULL;
        return EP_ERR_INCOMPATIBLE;
    }
    io->provider = &table;
    return EP_OK;
}
