#!/usr/bin/env python3
"""A host in Python with only the standard library (ctypes): loads a provider named by a
manifest through ep_negotiate, lends it host services (log, clock, an in-memory versioned
secret store), and drives one account through connect, status, send and disconnect.

    host.py MANIFEST [--config JSON] [--account ID] [--to ADDRESS]

Prints each document the provider returns; exits 0 when the message was sent, 1 otherwise.
The structures below mirror plugin_api/include/email_provider/ep_abi.h (ABI 1.3) field by
field; the test that runs this host also checks them against the header's layout guard. It
offers ABI 1.0 in negotiation: it never checks connections (1.1's check_connection) nor asks for
sending limits (1.2's get_sending_limits), and it lends no count_event (1.3: left NULL).
"""
import argparse
import ctypes as C
import json
import os
import sys
import threading
import time

ABI_MAJOR, ABI_MINOR = 1, 0
EP_OK, EP_ERR_INCOMPATIBLE, EP_ERR_NOT_FOUND, EP_ERR_CONFLICT = 0, 2, 6, 7
EP_ERR_INVALID_ARGUMENT = 1


class Str(C.Structure):  # ep_str: borrowed UTF-8, not NUL-terminated
    _fields_ = [("data", C.c_void_p), ("len", C.c_size_t)]


class Bytes(C.Structure):  # ep_bytes
    _fields_ = [("data", C.c_void_p), ("len", C.c_size_t)]


class OwnedStr(C.Structure):  # ep_owned_str: released with the plugin's free_str
    _fields_ = [("data", C.c_void_p), ("len", C.c_size_t)]


LOG = C.CFUNCTYPE(None, C.c_void_p, C.c_int32, Str)
LOG_ENABLED = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_int32)
NOW = C.CFUNCTYPE(C.c_int64, C.c_void_p)
RECEIVER = C.CFUNCTYPE(None, C.c_void_p, Bytes, C.c_uint64)
SECRET_GET = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, RECEIVER, C.c_void_p)
SECRET_PUT = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, Bytes, C.c_uint64, C.POINTER(C.c_uint64))
SECRET_DELETE = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, C.c_uint64)
SECRET_DELETE_PREFIX = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str)
COUNT_EVENT = C.CFUNCTYPE(None, C.c_void_p, Str, Str)
SEND_CALLBACK = C.CFUNCTYPE(None, C.c_void_p, Str)


class HostApi(C.Structure):  # ep_host_api
    _fields_ = [("struct_size", C.c_uint32), ("host_ctx", C.c_void_p), ("log", LOG), ("log_enabled", LOG_ENABLED),
                ("now_unix_ms", NOW), ("secret_get", SECRET_GET), ("secret_put", SECRET_PUT),
                ("secret_delete", SECRET_DELETE), ("secret_delete_prefix", SECRET_DELETE_PREFIX),
                ("count_event", COUNT_EVENT)]


ACCOUNT_CALL = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, C.POINTER(OwnedStr))
DOCUMENT_CALL = C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, Str, C.POINTER(OwnedStr))


class ProviderApi(C.Structure):  # ep_provider_api
    _fields_ = [("struct_size", C.c_uint32), ("abi_major", C.c_uint16), ("abi_minor", C.c_uint16),
                ("capabilities", C.c_uint64),
                ("create", C.CFUNCTYPE(C.c_int32, C.POINTER(HostApi), Str, C.POINTER(C.c_void_p), C.POINTER(OwnedStr))),
                ("destroy", C.CFUNCTYPE(None, C.c_void_p)),
                ("begin_connect", DOCUMENT_CALL), ("complete_connect", DOCUMENT_CALL),
                ("get_status", ACCOUNT_CALL), ("disconnect", ACCOUNT_CALL), ("forget_account", ACCOUNT_CALL),
                ("send", C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, Str, SEND_CALLBACK, C.c_void_p, C.POINTER(OwnedStr))),
                ("free_str", C.CFUNCTYPE(None, C.POINTER(OwnedStr))),
                ("check_connection", C.CFUNCTYPE(C.c_int32, C.c_void_p, Str, SEND_CALLBACK, C.c_void_p)),
                ("get_sending_limits", ACCOUNT_CALL)]


class Negotiation(C.Structure):  # ep_negotiation
    _fields_ = [("struct_size", C.c_uint32), ("host_abi_major", C.c_uint16), ("host_abi_minor", C.c_uint16),
                ("plugin_abi_major", C.c_uint16), ("plugin_abi_minor", C.c_uint16),
                ("provider", C.POINTER(ProviderApi)), ("provider_name", C.c_char_p), ("provider_version", C.c_char_p)]


STRUCTS = {"ep_str": Str, "ep_bytes": Bytes, "ep_owned_str": OwnedStr, "ep_host_api": HostApi,
           "ep_provider_api": ProviderApi, "ep_negotiation": Negotiation}


class LoadError(Exception):
    pass


def text(s):
    """The bytes of a borrowed view, copied (views die with the call)."""
    return C.string_at(s.data, s.len) if s.len else b""


def views(*strings):
    """ep_str views of Python strings, and the buffers that must outlive the call."""
    encoded = [s.encode() for s in strings]
    buffers = [C.create_string_buffer(b, len(b)) for b in encoded]
    return [Str(C.cast(b, C.c_void_p), len(b)) for b in buffers], buffers


class Services:
    """The host services lent to one instance. Thread-safe: the plugin calls from its threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.store = {}  # key -> (value, version)
        self.next_version = 1
        # Keep every callback object alive as long as the table that points to it.
        self.api = HostApi(C.sizeof(HostApi), None, LOG(self.log), LOG_ENABLED(lambda ctx, level: 1),
                           NOW(lambda ctx: int(time.time() * 1000)), SECRET_GET(self.get), SECRET_PUT(self.put),
                           SECRET_DELETE(self.delete), SECRET_DELETE_PREFIX(self.delete_prefix))

    def log(self, ctx, level, message):
        print(f"  [plugin log {level}] {text(message).decode('utf-8', 'replace')}", file=sys.stderr)

    def get(self, ctx, key, receiver, receiver_ctx):
        with self.lock:
            entry = self.store.get(text(key))
        if entry is None:
            return EP_ERR_NOT_FOUND
        value, version = entry
        buf = C.create_string_buffer(value, len(value))
        receiver(receiver_ctx, Bytes(C.cast(buf, C.c_void_p), len(value)), version)
        return EP_OK

    def put(self, ctx, key, value, expected_version, new_version):
        k = text(key)
        with self.lock:
            current = self.store.get(k, (None, 0))[1]
            if current != expected_version:
                return EP_ERR_CONFLICT
            version = self.next_version
            self.next_version += 1
            self.store[k] = (C.string_at(value.data, value.len) if value.len else b"", version)
        new_version[0] = version
        return EP_OK

    def delete(self, ctx, key, expected_version):
        k = text(key)
        with self.lock:
            if k in self.store and expected_version not in (0, self.store[k][1]):
                return EP_ERR_CONFLICT
            self.store.pop(k, None)
        return EP_OK

    def delete_prefix(self, ctx, prefix):
        p = text(prefix)
        if not p:
            return EP_ERR_INVALID_ARGUMENT
        with self.lock:
            for k in [k for k in self.store if k.startswith(p)]:
                del self.store[k]
        return EP_OK


class Provider:
    """A provider library named by a manifest, negotiated (plugin_api/CONTRACT.md EP_HOST_1, 2)."""

    def __init__(self, manifest_path):
        manifest_path = os.path.realpath(manifest_path)
        with open(manifest_path, encoding="utf-8") as f:
            provider = json.load(f)["provider"]
        library = os.path.join(os.path.dirname(manifest_path), provider["library_path"])
        self.id = provider["id"]
        self.lib = C.CDLL(os.path.normpath(library), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        negotiate = self.lib.ep_negotiate
        negotiate.argtypes, negotiate.restype = [C.POINTER(Negotiation)], C.c_int32
        io = Negotiation(struct_size=C.sizeof(Negotiation), host_abi_major=ABI_MAJOR, host_abi_minor=ABI_MINOR)
        status = negotiate(C.byref(io))
        # Re-check the answer before trusting any of it.
        if io.plugin_abi_major != ABI_MAJOR:
            raise LoadError(f"{library}: ABI major {io.plugin_abi_major}, this host speaks {ABI_MAJOR}")
        if status != EP_OK or not io.provider:
            raise LoadError(f"{library}: negotiation refused (status {status})")
        declared = io.provider.contents.struct_size
        if declared < C.sizeof(ProviderApi):
            raise LoadError(f"{library}: provider table too small ({declared} bytes)")
        # Adopt by size: what both sides know (a newer minor's extra fields stay behind).
        self.api = ProviderApi()
        C.memmove(C.byref(self.api), io.provider, C.sizeof(ProviderApi))
        self.name = io.provider_name.decode()
        self.version = io.provider_version.decode()
        self.abi = (io.plugin_abi_major, min(io.plugin_abi_minor, ABI_MINOR))

    def take(self, status, out):
        doc = C.string_at(out.data, out.len).decode() if out.data else ""
        self.api.free_str(C.byref(out))
        return status, doc


class Instance:
    def __init__(self, provider, config):
        self.p = provider
        self.services = Services()
        self.handle = C.c_void_p()
        out = OwnedStr()
        (config_view,), kept = views(config)
        status, doc = provider.take(provider.api.create(C.byref(self.services.api), config_view,
                                                        C.byref(self.handle), C.byref(out)), out)
        if status != EP_OK:
            raise LoadError(f"create failed ({status}): {doc}")

    def call(self, fn, *args):
        args, kept = views(*args)
        out = OwnedStr()
        return self.p.take(fn(self.handle, *args, C.byref(out)), out)

    def send(self, account, message, timeout=30):
        done = threading.Event()
        result = {}

        def completed(ctx, doc):  # on a plugin thread; ctypes takes the GIL
            result["doc"] = text(doc).decode()
            done.set()

        callback = SEND_CALLBACK(completed)  # referenced until the plugin called back (below)
        (account_view, message_view), kept = views(account, message)
        out = OwnedStr()
        status, doc = self.p.take(self.p.api.send(self.handle, account_view, message_view, callback, None,
                                                  C.byref(out)), out)
        if status != EP_OK:
            return status, doc
        if not done.wait(timeout):
            raise TimeoutError("the provider never called back")
        return status, result["doc"]

    def destroy(self):
        self.p.api.destroy(self.handle)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--config", default="{}")
    ap.add_argument("--account", default="alice")
    ap.add_argument("--to", default="bob@example.org")
    a = ap.parse_args()
    provider = Provider(a.manifest)
    print(f"loaded {provider.id}: {provider.name} {provider.version}, ABI {provider.abi[0]}.{provider.abi[1]}")
    instance = Instance(provider, a.config)
    try:
        for what, fn, args in [("begin_connect", provider.api.begin_connect, (a.account, "{}")),
                               ("get_status", provider.api.get_status, (a.account,))]:
            status, doc = instance.call(fn, *args)
            print(f"{what}: {status} {doc}")
        message = json.dumps({"to": [{"address": a.to}], "subject": "From a Python host", "text": "Hello."})
        status, doc = instance.send(a.account, message)
        print(f"send: {status} {doc}")
        sent = status == EP_OK and json.loads(doc).get("outcome") == "sent"
        status, doc = instance.call(provider.api.disconnect, a.account)
        print(f"disconnect: {status} {doc}")
    finally:
        instance.destroy()
    return 0 if sent else 1


if __name__ == "__main__":
    sys.exit(main())
