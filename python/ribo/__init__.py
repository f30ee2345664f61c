"""ribo: embeddings from protein and DNA language models (ESM-2, DNABERT-2/S), computed by ribo's C
library on CUDA, HIP or OpenCL devices.

    model = ribo.Model("esm2_t33_650M_UR50D")      # a HuggingFace model directory, loaded once
    x = model.embed(["MKTAYIAKQR", "MSEQVL"])      # numpy float32 [2, D]
    rows = model.embed(seqs, pool="none")          # list of [L_i, D] (per residue)
    model.embed_fasta(["in.fa.gz"], "out.npy")     # the `ribo embed` job (resume, report, ...)

The GIL is released while the devices work. Errors are raised as ribo.Error subclasses carrying
ribo's one-line message.
"""
import ctypes
import logging
import os
import threading

import numpy as np

from . import _capi
from ._capi import lib

__version__ = "0.1.0"
__all__ = ["Model", "devices", "describe", "Error", "ArgumentError", "FileError", "InputError", "ModelError",
           "UnsupportedError", "OutOfMemoryError", "DeviceError", "InternalError"]

_log = logging.getLogger("ribo")


class Error(Exception):
    """A ribo failure: .status (the C library's status name) and the one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class ArgumentError(Error, ValueError):
    """A bad option or API misuse (RIBO_ERR_INVALID_ARGUMENT)."""


class FileError(Error):
    """A file could not be opened, read or written (RIBO_ERR_IO)."""


class InputError(Error, ValueError):
    """Malformed input: a sequence, an id, a FASTA record (RIBO_ERR_INPUT)."""


class ModelError(Error):
    """A malformed or inconsistent model directory or checkpoint (RIBO_ERR_MODEL)."""


class UnsupportedError(Error):
    """A valid request the backend, device or model cannot do (RIBO_ERR_UNSUPPORTED)."""


class OutOfMemoryError(Error, MemoryError):
    """Host or device memory ran out (RIBO_ERR_OUT_OF_MEMORY)."""


class DeviceError(Error):
    """A backend (vendor API) call failed (RIBO_ERR_DEVICE)."""


class InternalError(Error):
    """A bug in ribo (RIBO_ERR_INTERNAL)."""


_ERRORS = [None, ArgumentError, FileError, InputError, ModelError, UnsupportedError, OutOfMemoryError, DeviceError,
           InternalError]


def _raise(status, err):
    if status == 0:
        return
    cls = _ERRORS[status] if 0 < status < len(_ERRORS) else InternalError
    raise cls(_capi.STATUS_NAMES[status] if status < len(_capi.STATUS_NAMES) else str(status),
              err.message.decode("utf-8", "replace"))


def _b(s):
    if s is None:
        return None
    return os.fsencode(s) if isinstance(s, os.PathLike) else (s.encode() if isinstance(s, str) else bytes(s))


def _log_line(user, line):
    _log.warning("%s", line.decode("utf-8", "replace"))


_LOG_CB = _capi.LOG_FN(_log_line)  # one for the module: the library calls it from its threads


def _pool(pool):
    if pool not in _capi.POOLS:
        raise ArgumentError("invalid argument", "pool must be 'mean', 'cls' or 'none', not %r" % (pool,))
    return _capi.POOLS[pool]


def _fill_call_options(o, pool=None, truncate=None, skip_invalid=False, translate=None, drop_stop_frames=False,
                       lenient=False, window_tokens=0, window_seqs=0, quiet=True):
    o.pool = _pool(pool)
    if truncate is not None:
        o.truncate = int(truncate)
    o.skip_invalid = bool(skip_invalid)
    if translate not in (None, 0, 6):
        raise ArgumentError("invalid argument", "translate must be 6 (six frames) or None, not %r" % (translate,))
    o.translate_frames = int(translate or 0)
    o.drop_stop_frames = bool(drop_stop_frames)
    o.lenient = bool(lenient)
    o.window_tokens = int(window_tokens)
    o.window_seqs = int(window_seqs)
    o.quiet = bool(quiet)
    o.log = _LOG_CB


class _Progress:
    """Adapts ribo_progress calls to a callable f(done, total) or a tqdm-like object (update/total)."""

    def __init__(self, target, total):
        self.target, self.total, self.done = target, total, 0

    def __call__(self, user, p):
        try:
            done = int(p.contents.sequences_done)
            if hasattr(self.target, "update"):
                if getattr(self.target, "total", None) is None and self.total is not None:
                    self.target.total = self.total
                self.target.update(done - self.done)
            else:
                self.target(done, self.total)
            self.done = done
        except Exception:  # a progress display must not stop the run
            _log.exception("ribo: the progress callable failed")


def devices():
    """Every device of every compiled-in backend: a list of dicts (backend, index, name, memory_bytes, ...)."""
    found = []

    def cb(dev, user):
        d = ctypes.cast(dev, ctypes.POINTER(_capi.DeviceDescription)).contents
        found.append({"backend": d.backend.decode(), "index": d.index, "name": d.name.decode(),
                      "memory_bytes": d.memory_bytes, "fp16": d.fp16, "bf16": d.bf16, "note": d.note.decode(),
                      "warp_size": d.warp_size, "matrix_units": d.matrix_units.decode()})

    err = _capi.Error()
    fn = _capi.DEVICE_FN(cb)
    _raise(lib.ribo_list_devices(fn, None, ctypes.byref(err)), err)
    return found


def _model_info_dict(m):
    return {"architecture": m.architecture.decode(), "weights_dtype": m.weights_dtype.decode(),
            "n_layers": m.n_layers, "hidden_size": m.hidden_size, "n_heads": m.n_heads, "head_dim": m.head_dim,
            "intermediate_size": m.intermediate_size, "vocab_size": m.vocab_size,
            "max_positions": m.max_positions, "n_parameters": m.n_parameters,
            "default_max_residues": m.default_max_residues, "default_pool": m.default_pool.decode(),
            "dna_model": m.dna_model}


def describe(model_dir):
    """What `ribo info` says about a model directory, without opening a device."""
    info, err = _capi.ModelInfo(), _capi.Error()
    _raise(lib.ribo_model_describe(_b(model_dir), ctypes.byref(info), ctypes.byref(err)), err)
    return _model_info_dict(info)


def _summary_dict(s):
    return {f: (getattr(s, f).decode() if f == "bottleneck" else getattr(s, f)) for f, _ in s._fields_}


class Model:
    """A model loaded once onto its devices; embed() and embed_fasta() may be called any number of
    times (one call at a time per Model; several Models may live in one process)."""

    def __init__(self, path, backend="auto", devices=None, dtype=None, max_tokens=None, max_batch_seqs=None):
        if dtype not in _capi.DTYPES:
            raise ArgumentError("invalid argument", "dtype must be 'fp32', 'fp16', 'bf16' or None, not %r" % (dtype,))
        o = _capi.EmbedOptions()
        lib.ribo_embed_options_init(ctypes.byref(o))
        self._keep = [_b(path), _b(backend or "auto")]
        o.model_dir, o.backend = self._keep[0], self._keep[1]
        if devices is not None:
            if isinstance(devices, int):
                o.device = devices
            else:
                spec = devices if isinstance(devices, str) else ",".join(str(int(d)) for d in devices)
                self._keep.append(spec.encode())
                o.devices = self._keep[-1]
        o.dtype = _capi.DTYPES[dtype]
        o.max_tokens = int(max_tokens or 0)
        o.max_batch_seqs = int(max_batch_seqs or 0)
        o.log = _LOG_CB
        handle, err = ctypes.c_void_p(), _capi.Error()
        _raise(lib.ribo_session_open(ctypes.byref(o), ctypes.byref(handle), ctypes.byref(err)), err)
        self._h = handle
        self._lock = threading.Lock()
        info = _capi.SessionInfo()
        _raise(lib.ribo_session_describe(self._h, ctypes.byref(info), ctypes.byref(err)), err)
        self.info = {"model": _model_info_dict(info.model), "backend": info.backend.decode(),
                     "dtype": info.dtype.decode(), "devices": [info.devices[i].value.decode()
                                                               for i in range(info.n_devices)],
                     "embedding_dim": info.embedding_dim, "max_tokens": info.max_tokens,
                     "default_pool": info.default_pool.decode(), "path": str(path)}
        self.dim = info.embedding_dim

    def close(self):
        """Frees the devices' memory now (also done when the Model is garbage-collected)."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            lib.ribo_session_close(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise ArgumentError("invalid argument", "this ribo.Model is closed")
        return self._h

    def embed(self, seqs, ids=None, pool="mean", layers=None, truncate=None, skip_invalid=False, translate=None,
              drop_stop_frames=False, lenient=False, progress=None, return_ids=False):
        """Embeds sequences given as a list of strings (ids "0", "1", ... unless `ids` is given), a list
        of (id, sequence) pairs, or a dict id -> sequence, with ribo embed's rules (truncation,
        checks, packing). Returns numpy float32 [N, D] (pooled), or a list of [L_i, D] arrays with
        pool="none"; rows are in input order. With skip_invalid/translate N differs from the input:
        return_ids=True returns (ids, result)."""
        if layers is not None:
            raise UnsupportedError("unsupported", "layers=: per-layer outputs are not implemented yet (issue 19); "
                                   "only the last layer is available")
        if isinstance(seqs, dict):
            ids, seqs = list(seqs.keys()), list(seqs.values())
        elif ids is None and len(seqs) and isinstance(seqs[0], (tuple, list)):
            ids, seqs = [p[0] for p in seqs], [p[1] for p in seqs]
        seqs = list(seqs)
        ids = [str(i) for i in range(len(seqs))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(seqs):
            raise ArgumentError("invalid argument", "%d ids for %d sequences" % (len(ids), len(seqs)))
        n = len(seqs)
        per_residue = pool == "none"
        o = _capi.EmbedOptions()
        lib.ribo_embed_options_init(ctypes.byref(o))
        _fill_call_options(o, pool=pool, truncate=truncate, skip_invalid=skip_invalid, translate=translate,
                           drop_stop_frames=drop_stop_frames, lenient=lenient)
        prog = None
        if progress is not None:
            prog = _capi.PROGRESS_FN(_Progress(progress, n))
            o.progress, o.progress_interval_s = prog, 0.2
        c_ids = (ctypes.c_char_p * max(n, 1))(*[i.encode() for i in ids])
        c_seqs = (ctypes.c_char_p * max(n, 1))(*[s.encode() if isinstance(s, str) else bytes(s) for s in seqs])
        cap = n * (6 if translate else 1)
        out = None if per_residue else np.empty((cap, self.dim), dtype=np.float32)
        got_ids, got_rows, failure = [], [], []
        want_rows_cb = per_residue or return_ids or skip_invalid or translate

        def rows_cb(user, row, rid, data, n_rows, dim):
            try:
                got_ids.append(rid.decode("utf-8", "replace"))
                if per_residue:
                    got_rows.append(np.ctypeslib.as_array(data, shape=(n_rows * dim,)).reshape(n_rows, dim).copy())
                return 0
            except BaseException as e:  # stops the run; raised again below
                failure.append(e)
                return 1

        cb = _capi.ROWS_FN(rows_cb) if want_rows_cb else _capi.ROWS_FN()
        summary, err = _capi.EmbedSummary(), _capi.Error()
        out_ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) if out is not None else None
        with self._lock:
            status = lib.ribo_session_embed(self._handle(), c_ids, c_seqs, n, ctypes.byref(o), out_ptr,
                                            cap if out is not None else 0, cb, None, ctypes.byref(summary),
                                            ctypes.byref(err))
        if failure:
            raise failure[0]
        _raise(status, err)
        result = got_rows if per_residue else out[: summary.n_sequences]
        if return_ids:
            return (got_ids if want_rows_cb else ids[: summary.n_sequences]), result
        return result

    __call__ = embed

    def embed_fasta(self, inputs, output, pool="mean", truncate=None, skip_invalid=False, translate=None,
                    drop_stop_frames=False, lenient=False, resume=False, report=None, trace=None, window_tokens=0,
                    window_seqs=0, progress=None, quiet=True):
        """The `ribo embed` job on this loaded model: FASTA files (.gz allowed) in, OUTPUT.npy (+ .ids.txt)
        or OUTPUT.h5 out, resumable with resume=True. Returns the run's summary as a dict."""
        if isinstance(inputs, (str, bytes, os.PathLike)):
            inputs = [inputs]
        keep = [_b(p) for p in inputs] + [_b(output), _b(report), _b(trace)]
        c_inputs = (ctypes.c_char_p * len(inputs))(*keep[: len(inputs)])
        o = _capi.EmbedOptions()
        lib.ribo_embed_options_init(ctypes.byref(o))
        _fill_call_options(o, pool=pool, truncate=truncate, skip_invalid=skip_invalid, translate=translate,
                           drop_stop_frames=drop_stop_frames, lenient=lenient, window_tokens=window_tokens,
                           window_seqs=window_seqs, quiet=quiet)
        o.inputs, o.n_inputs = c_inputs, len(inputs)
        o.output, o.report_path, o.trace_path = keep[len(inputs)], keep[len(inputs) + 1], keep[len(inputs) + 2]
        o.resume = bool(resume)
        prog = None
        if progress is not None:
            prog = _capi.PROGRESS_FN(_Progress(progress, None))
            o.progress, o.progress_interval_s = prog, 0.5
        summary, err = _capi.EmbedSummary(), _capi.Error()
        with self._lock:
            status = lib.ribo_session_embed_files(self._handle(), ctypes.byref(o), ctypes.byref(summary),
                                                  ctypes.byref(err))
        _raise(status, err)
        return _summary_dict(summary)
