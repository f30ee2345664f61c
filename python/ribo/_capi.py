"""ctypes mirror of include/ribo/ribo.h (the C library's public API).

The layouts below follow the header field by field; at load time each one is checked against the
library's own sizeof (ribo_abi_struct_size), so a header change that is not mirrored here fails at
import with a clear message instead of corrupting memory. ctypes releases the GIL for the duration
of every call into the library; callbacks take it again while they run.
"""
import ctypes
import os

MAX_DEVICES = 64
ERROR_MESSAGE_MAX = 16384

# ribo_status
STATUS_NAMES = ["ok", "invalid argument", "i/o error", "input error", "model error", "unsupported",
                "out of memory", "device error", "internal error"]
# ribo_dtype / ribo_pool
DTYPES = {None: 0, "auto": 0, "fp32": 1, "fp16": 2, "bf16": 3}
POOLS = {None: 0, "default": 0, "mean": 1, "cls": 2, "none": 3}


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * ERROR_MESSAGE_MAX)]


class Progress(ctypes.Structure):
    _fields_ = [
        ("elapsed_s", ctypes.c_double),
        ("sequences_done", ctypes.c_uint64),
        ("tokens_done", ctypes.c_uint64),
        ("tokens_per_s", ctypes.c_double),
        ("fraction_done", ctypes.c_double),
        ("eta_s", ctypes.c_double),
        ("packing_density", ctypes.c_double),
        ("n_devices", ctypes.c_int),
        ("device_busy", ctypes.c_double * MAX_DEVICES),
        ("final", ctypes.c_bool),
    ]


PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(Progress))
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
ROWS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_char_p,
                           ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_size_t)
DEVICE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class EmbedOptions(ctypes.Structure):
    _fields_ = [
        ("model_dir", ctypes.c_char_p),
        ("inputs", ctypes.POINTER(ctypes.c_char_p)),
        ("n_inputs", ctypes.c_int),
        ("output", ctypes.c_char_p),
        ("backend", ctypes.c_char_p),
        ("device", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("pool", ctypes.c_int),
        ("max_tokens", ctypes.c_int),
        ("max_batch_seqs", ctypes.c_int),
        ("truncate", ctypes.c_int),
        ("skip_invalid", ctypes.c_bool),
        ("translate_frames", ctypes.c_int),
        ("drop_stop_frames", ctypes.c_bool),
        ("lenient", ctypes.c_bool),
        ("quiet", ctypes.c_bool),
        ("devices", ctypes.c_char_p),
        ("sync", ctypes.c_bool),
        ("ring_depth", ctypes.c_int),
        ("queue_depth", ctypes.c_int),
        ("window_tokens", ctypes.c_int),
        ("window_seqs", ctypes.c_int),
        ("resume", ctypes.c_bool),
        ("report_path", ctypes.c_char_p),
        ("trace_path", ctypes.c_char_p),
        ("progress", PROGRESS_FN),
        ("progress_user", ctypes.c_void_p),
        ("progress_interval_s", ctypes.c_double),
        ("log", LOG_FN),
        ("log_user", ctypes.c_void_p),
        ("writers", ctypes.c_int),
    ]


class EmbedSummary(ctypes.Structure):
    _fields_ = [
        ("n_sequences", ctypes.c_size_t),
        ("n_skipped", ctypes.c_size_t),
        ("n_truncated", ctypes.c_size_t),
        ("truncate_limit", ctypes.c_size_t),
        ("dna_model", ctypes.c_bool),
        ("n_unknown_chars", ctypes.c_size_t),
        ("n_stop_frames", ctypes.c_size_t),
        ("n_short_frames", ctypes.c_size_t),
        ("n_lenient_chars", ctypes.c_size_t),
        ("n_tokens", ctypes.c_size_t),
        ("n_tokens_computed", ctypes.c_size_t),
        ("n_batches", ctypes.c_size_t),
        ("packing_density", ctypes.c_double),
        ("seconds", ctypes.c_double),
        ("batch_seconds", ctypes.c_double),
        ("embedding_dim", ctypes.c_int),
        ("n_devices", ctypes.c_int),
        ("max_tokens", ctypes.c_int),
        ("n_parts", ctypes.c_size_t),
        ("n_parts_resumed", ctypes.c_size_t),
        ("assemble_seconds", ctypes.c_double),
        ("bottleneck", ctypes.c_char * 256),
    ]


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("architecture", ctypes.c_char * 64),
        ("weights_dtype", ctypes.c_char * 16),
        ("n_layers", ctypes.c_int),
        ("hidden_size", ctypes.c_int),
        ("n_heads", ctypes.c_int),
        ("head_dim", ctypes.c_int),
        ("intermediate_size", ctypes.c_int),
        ("vocab_size", ctypes.c_int),
        ("max_positions", ctypes.c_int),
        ("n_parameters", ctypes.c_uint64),
        ("weight_bytes_fp32", ctypes.c_uint64),
        ("weight_bytes_fp16", ctypes.c_uint64),
        ("activation_bytes_per_token_fp32", ctypes.c_uint64),
        ("default_max_residues", ctypes.c_int),
        ("default_pool", ctypes.c_char * 16),
        ("pool_includes_specials", ctypes.c_bool),
        ("dna_model", ctypes.c_bool),
    ]


class DeviceDescription(ctypes.Structure):
    _fields_ = [
        ("backend", ctypes.c_char_p),
        ("index", ctypes.c_int),
        ("name", ctypes.c_char * 256),
        ("memory_bytes", ctypes.c_uint64),
        ("fp16", ctypes.c_bool),
        ("bf16", ctypes.c_bool),
        ("note", ctypes.c_char * 256),
        ("warp_size", ctypes.c_int),
        ("matrix_units", ctypes.c_char * 48),
    ]


class SessionInfo(ctypes.Structure):
    _fields_ = [
        ("model", ModelInfo),
        ("backend", ctypes.c_char * 32),
        ("dtype", ctypes.c_char * 8),
        ("n_devices", ctypes.c_int),
        ("devices", (ctypes.c_char * 192) * MAX_DEVICES),
        ("embedding_dim", ctypes.c_int),
        ("max_tokens", ctypes.c_int),
        ("default_pool", ctypes.c_char * 16),
    ]


_MIRRORS = {
    "ribo_embed_options": EmbedOptions,
    "ribo_embed_summary": EmbedSummary,
    "ribo_error": Error,
    "ribo_progress": Progress,
    "ribo_model_info": ModelInfo,
    "ribo_device_description": DeviceDescription,
    "ribo_session_info": SessionInfo,
}


def _library_path():
    env = os.environ.get("RIBO_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libribo.so", "libribo.dylib"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            return path
    raise ImportError("ribo: the C library (libribo.so) is not next to %s; reinstall with "
                      "`pip install ./python`, or point RIBO_LIBRARY at a built libribo.so" % here)


def _load():
    path = _library_path()
    lib = ctypes.CDLL(path)
    P = ctypes.POINTER
    sigs = {
        "ribo_abi_struct_size": (ctypes.c_size_t, [ctypes.c_char_p]),
        "ribo_embed_options_init": (None, [P(EmbedOptions)]),
        "ribo_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "ribo_session_open": (ctypes.c_int, [P(EmbedOptions), P(ctypes.c_void_p), P(Error)]),
        "ribo_session_embed": (ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), P(ctypes.c_char_p), ctypes.c_size_t,
                                              P(EmbedOptions), P(ctypes.c_float), ctypes.c_size_t, ROWS_FN,
                                              ctypes.c_void_p, P(EmbedSummary), P(Error)]),
        "ribo_session_embed_files": (ctypes.c_int, [ctypes.c_void_p, P(EmbedOptions), P(EmbedSummary), P(Error)]),
        "ribo_session_describe": (ctypes.c_int, [ctypes.c_void_p, P(SessionInfo), P(Error)]),
        "ribo_session_close": (None, [ctypes.c_void_p]),
        "ribo_embed": (ctypes.c_int, [P(EmbedOptions), P(EmbedSummary), P(Error)]),
        "ribo_model_describe": (ctypes.c_int, [ctypes.c_char_p, P(ModelInfo), P(Error)]),
        "ribo_list_devices": (ctypes.c_int, [DEVICE_FN, ctypes.c_void_p, P(Error)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    for name, mirror in _MIRRORS.items():
        want = lib.ribo_abi_struct_size(name.encode())
        if want != ctypes.sizeof(mirror):
            raise ImportError("ribo: %s is %d bytes in %s but %d in ribo/_capi.py: the Python package and the C "
                              "library do not match (reinstall with `pip install ./python`)"
                              % (name, want, path, ctypes.sizeof(mirror)))
    return lib


lib = _load()
