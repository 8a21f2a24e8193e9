/*
 * ep_abi.h — the email-provider plugin ABI, version 1.3.
 *
 * ABI POLICY
 *   - This header is pure C11 and the only contract between a host and a provider plugin.
 *     Nothing C++ crosses it: no exceptions, no STL types, no RTTI.
 *   - A plugin exports exactly one symbol, ep_negotiate(). Everything else crosses as tables
 *     of function pointers (ep_provider_api from the plugin, ep_host_api from the host).
 *   - Versions: EP_ABI_VERSION_MAJOR changes only for incompatible changes; the host refuses
 *     a plugin of another major. A minor release only appends fields at the END of tables and
 *     structs. Every struct that crosses starts with `uint32_t struct_size`, so each side can
 *     tell which fields the other knows; a reader copies min(struct_size, sizeof) into a zeroed
 *     struct and treats missing fields as absent (NULL / 0).
 *   - Existing fields are never renumbered, retyped or removed within a major; status values
 *     are never renumbered.
 *   - Structured payloads (configs, connect requests and results, status, messages, send
 *     results) are UTF-8 JSON documents with their own versioned schemas
 *     (plugin_api/SCHEMAS.md). New JSON fields do not change the ABI.
 *   - Trust model: a plugin runs in the host process with the host's privileges. The ABI
 *     guards against mistakes (sizes, versions, ownership), not against a malicious plugin.
 *   - Guards (tests/abi/README.md): every released header is kept verbatim under
 *     tests/abi/frozen/<version>/ and its layout (every field's offset, size and type) is
 *     asserted against this header; an abidiff against the released baseline allows only
 *     appends at the end of a table with a minor bump.
 *
 * VERSION HISTORY (a release adds a line; released lines are never edited)
 *   1.0  ep_negotiate; ep_negotiation (8 fields), ep_provider_api (13), ep_host_api (9).
 *   1.1  ep_provider_api.check_connection (14 fields) and its callback type ep_check_callback.
 *   1.2  ep_provider_api.get_sending_limits (15 fields); capability EP_CAP_THREADING.
 *   1.3  ep_host_api.count_event (10 fields).
 *
 * CONVENTIONS
 *   - Every name is prefixed ep_ / EP_.
 *   - Strings are UTF-8 with an explicit length (ep_str); they are NOT NUL-terminated unless
 *     stated. A borrowed view is valid only for the duration of the call or callback that
 *     receives it. Copy what you keep.
 *   - Ownership: whoever allocates frees. Documents returned by the plugin (ep_owned_str) are
 *     released with ep_provider_api.free_str; blobs the host lends to the plugin are borrowed.
 *   - Each item documents OWNERSHIP, LIFETIME and THREADING where they apply.
 */
#ifndef EMAIL_PROVIDER_EP_ABI_H
#define EMAIL_PROVIDER_EP_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Version and linkage ================================================================ */

#define EP_ABI_VERSION_MAJOR 1
#define EP_ABI_VERSION_MINOR 3

/* The one symbol a plugin exports; the host looks it up by this name. */
#define EP_ENTRY_POINT_NAME "ep_negotiate"

#if defined(_WIN32)
#define EP_EXPORT __declspec(dllexport)
#define EP_CALL __cdecl
#else
#define EP_EXPORT __attribute__((visibility("default")))
#define EP_CALL
#endif

/* ==== Common types ======================================================================= */

/* Status codes. Explicit values; never renumbered. */
typedef int32_t ep_status;
enum {
    EP_OK = 0,
    EP_ERR_INVALID_ARGUMENT = 1, /* a parameter or document is malformed; the error names it  */
    EP_ERR_INCOMPATIBLE = 2,     /* ABI negotiation failed (other major, unsupported minor)    */
    EP_ERR_NO_MEMORY = 3,
    EP_ERR_INTERNAL = 4,         /* a bug or an unexpected failure inside the callee           */
    EP_ERR_CONFIG = 5,           /* instance configuration is invalid (addressed to operators) */
    EP_ERR_NOT_FOUND = 6,        /* secret store: no such key                                  */
    EP_ERR_CONFLICT = 7,         /* secret store: compare-and-swap version mismatch            */
    EP_ERR_BUSY = 8,             /* send queue full; retry later (the result says when)        */
    EP_ERR_STORAGE = 9,          /* secret store or vault failure                              */
    EP_ERR_UNSUPPORTED = 10,     /* the operation is not implemented by this provider          */
    EP_ERR_SHUTTING_DOWN = 11    /* the instance is being destroyed                            */
};

/* Log levels for ep_host_api.log. */
typedef int32_t ep_log_level;
enum {
    EP_LOG_TRACE = 0,
    EP_LOG_DEBUG = 1,
    EP_LOG_INFO = 2,
    EP_LOG_WARN = 3,
    EP_LOG_ERROR = 4
};

/* Capability bits a provider advertises in ep_provider_api.capabilities. Unknown bits are
 * ignored by hosts. */
#define EP_CAP_INTERACTIVE_CONNECT (UINT64_C(1) << 0) /* begin_connect may return a URL to visit */
#define EP_CAP_HTML_BODY (UINT64_C(1) << 1)
#define EP_CAP_ATTACHMENTS (UINT64_C(1) << 2)
#define EP_CAP_CUSTOM_HEADERS (UINT64_C(1) << 3)
/* 1.2: the provider sets ep.message's threading fields (message_id, in_reply_to, references,
 * thread_id) on the message it sends and reports internet_message_id / thread_id in the send
 * result. A host sends those fields only to a plugin that advertises this bit and negotiated
 * 1.2 or later; any other plugin ignores them. */
#define EP_CAP_THREADING (UINT64_C(1) << 4)

/* A borrowed UTF-8 string view.
 * OWNERSHIP: the side that passes it keeps ownership.
 * LIFETIME: valid only during the call (or callback) it is passed to. */
typedef struct ep_str {
    const char* data; /* may be NULL only when len == 0 */
    size_t len;
} ep_str;

/* A borrowed byte view (opaque binary, e.g. an encrypted blob). Same rules as ep_str. */
typedef struct ep_bytes {
    const uint8_t* data;
    size_t len;
} ep_bytes;

/* A string the plugin allocated and hands to the host (always NUL-terminated too, for
 * convenience; `len` excludes the NUL).
 * OWNERSHIP: the host owns it after the call returns and must release it with
 * ep_provider_api.free_str of the plugin that produced it. Never free() it.
 * An empty ep_owned_str is {NULL, 0} and needs no release (free_str accepts it). */
typedef struct ep_owned_str {
    char* data;
    size_t len;
} ep_owned_str;

/* Opaque plugin instance. Created by ep_provider_api.create, released by destroy. */
typedef struct ep_instance ep_instance;

/* ==== Host services (lent to the plugin) ================================================= */

/* Receives a stored blob from ep_host_api.secret_get.
 * OWNERSHIP: `blob` is borrowed from the host.
 * LIFETIME: valid only until this callback returns; copy it.
 * THREADING: called synchronously, on the thread that called secret_get, before it returns. */
typedef void(EP_CALL* ep_secret_receiver)(void* receiver_ctx, ep_bytes blob, uint64_t version);

/* Services the host lends to one plugin instance (passed to ep_provider_api.create).
 *
 * OWNERSHIP: the host owns the table and host_ctx.
 * LIFETIME: valid from create until destroy of that instance returns.
 * THREADING: every function may be called from any plugin thread, concurrently; the host's
 *   implementation must be thread-safe. None of them calls back into the plugin except
 *   secret_get's receiver, synchronously. They never throw across the boundary.
 *
 * Secret store semantics. Keys are UTF-8 strings chosen by the plugin; the host namespaces
 * them per provider and per instance configuration so two providers never see each other's
 * keys. Values are opaque bytes (the plugin encrypts: the host never sees plaintext tokens).
 * Every stored value has a version > 0 that changes on every successful write, which gives
 * compare-and-swap across threads and across host processes sharing one store. */
typedef struct ep_host_api {
    uint32_t struct_size; /* sizeof(ep_host_api) as compiled by the host */
    void* host_ctx;       /* passed back as the first argument of every function below */

    /* Writes one log line. `message` is already formatted and must not contain secrets
     * (plugins redact before calling). */
    void(EP_CALL* log)(void* host_ctx, ep_log_level level, ep_str message);

    /* Returns nonzero when `level` would be written, so the plugin can skip formatting. */
    int32_t(EP_CALL* log_enabled)(void* host_ctx, ep_log_level level);

    /* Wall-clock time in milliseconds since the Unix epoch. Injectable: tests move it to
     * drive token expiry; plugins use it for every expiry decision. */
    int64_t(EP_CALL* now_unix_ms)(void* host_ctx);

    /* Reads a value. Calls `receiver` exactly once with the blob and its version and returns
     * EP_OK; returns EP_ERR_NOT_FOUND (receiver not called) when absent; EP_ERR_STORAGE on a
     * store failure. */
    ep_status(EP_CALL* secret_get)(void* host_ctx, ep_str key, ep_secret_receiver receiver,
                                   void* receiver_ctx);

    /* Compare-and-swap write. Succeeds only if the current version equals expected_version
     * (0 = the key must not exist). On EP_OK, *new_version receives the new version (> 0).
     * Returns EP_ERR_CONFLICT on a version mismatch (nothing written), EP_ERR_STORAGE on a
     * store failure. The write is durable when EP_OK is returned. */
    ep_status(EP_CALL* secret_put)(void* host_ctx, ep_str key, ep_bytes value,
                                   uint64_t expected_version, uint64_t* new_version);

    /* Deletes one key. expected_version 0 deletes unconditionally; otherwise only that version
     * (EP_ERR_CONFLICT if it changed). Deleting an absent key returns EP_OK. The bytes are gone
     * from the store, not merely marked. */
    ep_status(EP_CALL* secret_delete)(void* host_ctx, ep_str key, uint64_t expected_version);

    /* Deletes every key that starts with `prefix` (e.g. everything of one account) in one
     * atomic step. An empty prefix is refused with EP_ERR_INVALID_ARGUMENT. */
    ep_status(EP_CALL* secret_delete_prefix)(void* host_ctx, ep_str prefix);

    /* ---- 1.3 ---- (absent by struct_size, or NULL: a plugin then reports nothing) */

    /* Counts one occurrence of `event` that ended with `outcome`, for the host's metrics (e.g.
     * a Prometheus counter labelled by provider, event and outcome). Both are words from the
     * vocabulary in SCHEMAS.md "events", never free text: they must not carry secrets, account
     * ids or addresses. A host drops an event it does not know and counts an outcome it does
     * not know as "other", so a plugin cannot grow its metrics without bound. Returns nothing
     * and never fails the plugin's work; it should return quickly (the plugin calls it on its
     * own threads). A plugin calls it only when struct_size covers it and it is not NULL; a
     * host lends it only to a plugin that negotiated 1.3 or later. */
    void(EP_CALL* count_event)(void* host_ctx, ep_str event, ep_str outcome);
} ep_host_api;

/* ==== Provider (implemented by the plugin) =============================================== */

/* Completion of an asynchronous send.
 * `result_json` is a send-result document (SCHEMAS.md "send result").
 * OWNERSHIP: `result_json` is borrowed from the plugin.
 * LIFETIME: valid only until the callback returns.
 * THREADING: called on a plugin-owned thread, exactly once per send that returned EP_OK,
 *   never after destroy returns. The callback must not call destroy on the same instance
 *   and should return quickly (it runs on the plugin's I/O thread). */
typedef void(EP_CALL* ep_send_callback)(void* callback_ctx, ep_str result_json);

/* Completion of an asynchronous check_connection (ABI 1.1).
 * `status_json` is a status document (SCHEMAS.md "status") carrying `checked_at`.
 * OWNERSHIP, LIFETIME, THREADING: as ep_send_callback. */
typedef void(EP_CALL* ep_check_callback)(void* callback_ctx, ep_str status_json);

/* The provider's function table, returned by ep_negotiate.
 *
 * OWNERSHIP: the plugin owns the table (static storage).
 * LIFETIME: valid until the library is unloaded; hosts unload only when no instance lives.
 * THREADING (instances): every function taking an ep_instance may be called concurrently from
 *   any host thread, except destroy, which must not overlap any other call on that instance.
 *   Different instances are independent.
 *
 * Documents: on success, `out` (when the function has one) receives the result document; on
 * failure it receives an error document {"error":{"code":"...","message":"...","field":"..."}}
 * (SCHEMAS.md "error"). The host releases it with free_str in both cases. `out` is always
 * written ({NULL,0} when there is nothing to say). */
typedef struct ep_provider_api {
    uint32_t struct_size; /* sizeof(ep_provider_api) as compiled by the plugin */
    uint16_t abi_major;   /* ABI version the table follows */
    uint16_t abi_minor;
    uint64_t capabilities; /* EP_CAP_* bits */

    /* Creates an instance from a provider-specific JSON configuration.
     * `host` must stay valid until destroy returns.
     * On success *instance is non-NULL and `out` receives an informational document
     * (may be empty); on failure *instance is NULL and `out` holds the error, whose
     * "field" names the offending configuration key. */
    ep_status(EP_CALL* create)(const ep_host_api* host, ep_str config_json, ep_instance** instance,
                               ep_owned_str* out);

    /* Destroys an instance. Waits for in-flight work: every accepted send gets its callback
     * before destroy returns (completed, or cancelled as "transient" if not yet started), and
     * none is called afterwards. NULL is accepted and ignored. */
    void(EP_CALL* destroy)(ep_instance* instance);

    /* Starts connecting a host account (an opaque, host-chosen id, e.g. a user id).
     * `request_json`: connect request document. `out`: connect start document — either an
     * authorization URL the user must visit, or an immediate status. */
    ep_status(EP_CALL* begin_connect)(ep_instance* instance, ep_str account, ep_str request_json,
                                      ep_owned_str* out);

    /* Completes a connection from what came back (callback URL or its parameters).
     * `out`: connect result document (outcome + status). A refused callback (forgery,
     * expiry, user cancelled...) is EP_OK with an outcome that says so: EP_ERR_* is reserved
     * for malformed input and internal failures. */
    ep_status(EP_CALL* complete_connect)(ep_instance* instance, ep_str account,
                                         ep_str callback_json, ep_owned_str* out);

    /* Returns the account's status document. Never blocks on the network. */
    ep_status(EP_CALL* get_status)(ep_instance* instance, ep_str account, ep_owned_str* out);

    /* Deletes every stored credential and pending connect of the account; status becomes
     * not_connected. `out`: disconnect result document. */
    ep_status(EP_CALL* disconnect)(ep_instance* instance, ep_str account, ep_owned_str* out);

    /* Like disconnect, for an account the host is deleting: the provider forgets everything
     * it holds about it. */
    ep_status(EP_CALL* forget_account)(ep_instance* instance, ep_str account, ep_owned_str* out);

    /* Submits a message (message document) for asynchronous sending; returns at once.
     * EP_OK: accepted; `callback` will be called exactly once. Any other status: not accepted,
     * the callback is never called, and `out` holds a send-result document saying why
     * (e.g. outcome "rejected" naming the invalid field, or "throttled" when the queue is
     * full). OWNERSHIP: message_json is copied before send returns. */
    ep_status(EP_CALL* send)(ep_instance* instance, ep_str account, ep_str message_json,
                             ep_send_callback callback, void* callback_ctx, ep_owned_str* out);

    /* Releases a string this plugin returned. Accepts {NULL,0}. Resets *s to {NULL,0}.
     * THREADING: any thread. */
    void(EP_CALL* free_str)(ep_owned_str* s);

    /* ---- 1.1 ---- (NULL, or absent by struct_size, in a 1.0 plugin: hosts use get_status) */

    /* Finds out whether a send now would go out: refreshes the account's grant if needed and
     * asks the provider's service (e.g. who the mailbox is), then reports a status document
     * with `checked_at`. A dead grant turns the stored status to expired (with its reason)
     * or permission_denied before the callback runs. Returns at once.
     * EP_OK: `callback` will be called exactly once, on a plugin thread, never inside
     * check_connection itself and never after destroy returns. Any other status: the callback
     * is never called (e.g. EP_ERR_BUSY, EP_ERR_SHUTTING_DOWN); the host may fall back to
     * get_status. Account ids are copied before it returns. */
    ep_status(EP_CALL* check_connection)(ep_instance* instance, ep_str account, ep_check_callback callback,
                                         void* callback_ctx);

    /* ---- 1.2 ---- (NULL, or absent by struct_size, in a 1.0 or 1.1 plugin: the host then
     * paces nothing and learns a mailbox's limits from refusals) */

    /* Returns the account's sending limits document (SCHEMAS.md "sending limits"): how many
     * messages a minute and a day, and recipients a day, the provider's service accepts from
     * this mailbox, so that the host paces its outbox instead of sending to be refused. The
     * limits may depend on the connected account (e.g. a consumer or a business mailbox).
     * Never blocks on the network. EP_ERR_UNSUPPORTED: the provider declares none. */
    ep_status(EP_CALL* get_sending_limits)(ep_instance* instance, ep_str account, ep_owned_str* out);
} ep_provider_api;

/* ==== Entry point ======================================================================== */

/* In/out block of ep_negotiate.
 * OWNERSHIP: host-owned; the plugin writes the "out" fields only. */
typedef struct ep_negotiation {
    uint32_t struct_size;     /* in: sizeof(ep_negotiation) as compiled by the host */
    uint16_t host_abi_major;  /* in: the host's ABI major */
    uint16_t host_abi_minor;  /* in: the newest minor the host understands */
    uint16_t plugin_abi_major; /* out: the plugin's ABI major */
    uint16_t plugin_abi_minor; /* out: the minor the plugin implements */
    const ep_provider_api* provider; /* out: the plugin's table (static storage) */
    const char* provider_name;       /* out: NUL-terminated, static; informational */
    const char* provider_version;    /* out: NUL-terminated, static; informational */
} ep_negotiation;

/* The only exported symbol of a plugin: negotiates the ABI version.
 * The host fills the "in" fields; the plugin answers what it implements. If the majors
 * differ the plugin returns EP_ERR_INCOMPATIBLE (and still fills plugin_abi_*). The host
 * re-checks the answer (same major, table non-NULL, table struct_size large enough) before
 * using anything.
 * THREADING: called once per load, before any other call, on the loading thread. */
typedef ep_status(EP_CALL* ep_negotiate_fn)(ep_negotiation* io);

EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EMAIL_PROVIDER_EP_ABI_H */
