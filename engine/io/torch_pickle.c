/* PyTorch's pickles read through the data-only machine (torch_pickle.h): the class allow-list, the
 * few calls a checkpoint makes (OrderedDict(), _rebuild_tensor_v2, _rebuild_parameter,
 * _rebuild_from_type_v2), storage persistent ids, and finding the state_dict in the result. */
#include "engine/io/torch_pickle.h"

#include "engine/io/torch_pickle_vm.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    C_ORDERED_DICT, C_REBUILD_TENSOR_V2, C_REBUILD_PARAMETER, C_REBUILD_PARAMETER_WITH_STATE,
    C_REBUILD_FROM_TYPE_V2, C_TENSOR, C_PARAMETER,
    C_STORAGE = 100 /* + index in the reader's storage classes */
};

/* The allow-list of plain classes and functions. */
static const struct {
    const char *module, *name;
    int id;
} allowed[] = {
    {"collections", "OrderedDict", C_ORDERED_DICT},
    {"torch._utils", "_rebuild_tensor_v2", C_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", C_REBUILD_PARAMETER},
    {"torch._utils", "_rebuild_parameter_with_state", C_REBUILD_PARAMETER_WITH_STATE},
    {"torch._tensor", "_rebuild_from_type_v2", C_REBUILD_FROM_TYPE_V2},
    {"torch", "Tensor", C_TENSOR},
    {"torch.nn.parameter", "Parameter", C_PARAMETER},
};

/* torch.<Name>Storage: the element type of each typed storage. */
static const struct {
    const char *name;
    ribo_st_dtype dtype;
    size_t elsize;
} storage_types[] = {
    {"FloatStorage", RIBO_ST_F32, 4}, {"HalfStorage", RIBO_ST_F16, 2}, {"BFloat16Storage", RIBO_ST_BF16, 2},
    {"DoubleStorage", RIBO_ST_F64, 8}, {"LongStorage", RIBO_ST_I64, 8}, {"IntStorage", RIBO_ST_I32, 4},
    {"ShortStorage", RIBO_ST_I16, 2}, {"CharStorage", RIBO_ST_I8, 1}, {"ByteStorage", RIBO_ST_U8, 1},
    {"BoolStorage", RIBO_ST_BOOL, 1}, {"ComplexFloatStorage", RIBO_ST_OTHER_DTYPE, 8},
    {"ComplexDoubleStorage", RIBO_ST_OTHER_DTYPE, 16}, {"QInt8Storage", RIBO_ST_OTHER_DTYPE, 1},
    {"QUInt8Storage", RIBO_ST_OTHER_DTYPE, 1}, {"QInt32Storage", RIBO_ST_OTHER_DTYPE, 4},
};

/* A storage class seen in a GLOBAL. */
typedef struct storage_class {
    char name[32];
    ribo_st_dtype dtype;
    size_t elsize;
} storage_class;

/* A tensor made by _rebuild_tensor_v2, not yet named. */
typedef struct tensor_view {
    size_t storage;
    int64_t offset;
    int ndim;
    int64_t shape[RIBO_TORCH_MAX_DIMS], stride[RIBO_TORCH_MAX_DIMS];
} tensor_view;

/* The hooks' state. */
typedef struct reader {
    const char *what;
    storage_class *classes;
    size_t n_classes;
    ribo_torch_storage *storages;
    size_t n_storages;
    tensor_view *views;
    size_t n_views;
} reader;

/* ---------------------------------------------------------------- small helpers */

static ribo_status oom(const reader *r, ribo_error *err) {
    return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the pickle", r->what);
}

/* Makes room for element n of an array holding n (its capacity is the next power of two, so it
 * grows when n is 0 or a power of two); false when out of memory. */
static bool grow1(void **v, size_t n, size_t el) {
    if (n != 0 && (n & (n - 1)) != 0) return true;
    size_t cap = n ? n * 2 : 1;
    if (cap > SIZE_MAX / el) return false;
    void *p = realloc(*v, cap * el);
    if (!p) return false;
    *v = p;
    return true;
}

/* A printable copy of s (non-printable bytes as '?'). */
static void printable(const char *s, char *out, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; ++i) out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

/* A refusal at the machine's current opcode. */
static ribo_status bad(ribo_pk_vm *vm, ribo_error *err, const char *why) {
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: unexpected pickle content at byte %zu: %s", vm->what, vm->pos, why);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------- hooks: classes */

static ribo_status hook_global(void *user, ribo_pk_vm *vm, const char *module, const char *name, int64_t *id,
                               ribo_error *err) {
    reader *r = user;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; ++i)
        if (strcmp(allowed[i].module, module) == 0 && strcmp(allowed[i].name, name) == 0) {
            *id = allowed[i].id;
            return RIBO_OK;
        }
    if (strcmp(module, "torch") == 0 && ends_with(name, "Storage") && strlen(name) < sizeof r->classes->name) {
        for (size_t i = 0; i < r->n_classes; ++i)
            if (strcmp(r->classes[i].name, name) == 0) {
                *id = C_STORAGE + (int64_t)i;
                return RIBO_OK;
            }
        if (!grow1((void **)&r->classes, r->n_classes, sizeof *r->classes)) return oom(r, err);
        storage_class *c = &r->classes[r->n_classes];
        snprintf(c->name, sizeof c->name, "%s", name);
        c->dtype = RIBO_ST_OTHER_DTYPE;
        c->elsize = 0;
        for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; ++i)
            if (strcmp(storage_types[i].name, name) == 0) {
                c->dtype = storage_types[i].dtype;
                c->elsize = storage_types[i].elsize;
            }
        *id = C_STORAGE + (int64_t)r->n_classes++;
        return RIBO_OK;
    }
    char m[96], n[96];
    printable(module, m, sizeof m);
    printable(name, n, sizeof n);
    return ribo_error_set(err, RIBO_ERR_MODEL,
                          "%s: refusing pickle class '%s.%s' (byte %zu): only PyTorch tensor and storage classes are "
                          "allowed, nothing in the file is run",
                          vm->what, m, n, vm->pos);
}

/* ---------------------------------------------------------------- hooks: calls */

/* Reads a tuple of ints into v (at most RIBO_TORCH_MAX_DIMS); false when it is not one. */
static bool int_tuple(ribo_pk_vm *vm, uint32_t t, int64_t *v, int *n) {
    const ribo_pk_obj *o = ribo_pk_obj_at(vm, t);
    if (o->kind != RIBO_PK_TUPLE || o->n > RIBO_TORCH_MAX_DIMS) return false;
    for (size_t i = 0; i < o->n; ++i) {
        const ribo_pk_obj *e = ribo_pk_obj_at(vm, o->items[i]);
        if (e->kind != RIBO_PK_INT) return false;
        v[i] = e->i;
    }
    *n = (int)o->n;
    return true;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
static ribo_status rebuild_tensor(reader *r, ribo_pk_vm *vm, uint32_t args, uint32_t *result, ribo_error *err) {
    const ribo_pk_obj *a = ribo_pk_obj_at(vm, args);
    if (a->n != 6 && a->n != 7) return bad(vm, err, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    const ribo_pk_obj *st = ribo_pk_obj_at(vm, a->items[0]), *off = ribo_pk_obj_at(vm, a->items[1]);
    if (st->kind != RIBO_PK_STORAGE) return bad(vm, err, "_rebuild_tensor_v2 of something that is not a storage");
    if (off->kind != RIBO_PK_INT) return bad(vm, err, "_rebuild_tensor_v2 storage offset is not an int");
    tensor_view t;
    memset(&t, 0, sizeof t);
    int nstride = 0;
    t.storage = (size_t)st->i;
    t.offset = off->i;
    if (!int_tuple(vm, a->items[2], t.shape, &t.ndim) || !int_tuple(vm, a->items[3], t.stride, &nstride))
        return bad(vm, err, "_rebuild_tensor_v2 size or stride is not a tuple of at most 16 ints");
    if (nstride != t.ndim) return bad(vm, err, "_rebuild_tensor_v2 size and stride differ in length");
    if (!grow1((void **)&r->views, r->n_views, sizeof *r->views)) return oom(r, err);
    r->views[r->n_views] = t;
    RIBO_TRY(ribo_pk_new(vm, RIBO_PK_TENSOR, result, err));
    ribo_pk_obj_at(vm, *result)->i = (int64_t)r->n_views++;
    return RIBO_OK;
}

static ribo_status hook_call(void *user, ribo_pk_vm *vm, int64_t id, uint32_t args, uint32_t *result,
                             ribo_error *err) {
    reader *r = user;
    const ribo_pk_obj *a = ribo_pk_obj_at(vm, args);
    switch (id) {
    case C_ORDERED_DICT:
        if (a->n != 0) return bad(vm, err, "OrderedDict called with arguments");
        return ribo_pk_new(vm, RIBO_PK_DICT, result, err);
    case C_REBUILD_TENSOR_V2:
        return rebuild_tensor(r, vm, args, result, err);
    case C_REBUILD_PARAMETER:
    case C_REBUILD_PARAMETER_WITH_STATE:
        if (a->n != (id == C_REBUILD_PARAMETER ? 3u : 4u) || ribo_pk_obj_at(vm, a->items[0])->kind != RIBO_PK_TENSOR)
            return bad(vm, err, "_rebuild_parameter of something that is not a tensor");
        *result = a->items[0];
        return RIBO_OK;
    case C_REBUILD_FROM_TYPE_V2: { /* (func, type, args, state): func(*args) */
        if (a->n != 4) return bad(vm, err, "_rebuild_from_type_v2 takes 4 arguments");
        const ribo_pk_obj *fn = ribo_pk_obj_at(vm, a->items[0]), *ty = ribo_pk_obj_at(vm, a->items[1]);
        const ribo_pk_obj *inner = ribo_pk_obj_at(vm, a->items[2]);
        if (fn->kind != RIBO_PK_CLASS || (fn->i != C_REBUILD_TENSOR_V2 && fn->i != C_REBUILD_PARAMETER) ||
            ty->kind != RIBO_PK_CLASS || (ty->i != C_TENSOR && ty->i != C_PARAMETER) || inner->kind != RIBO_PK_TUPLE)
            return bad(vm, err, "_rebuild_from_type_v2 of an unsupported function or type");
        return hook_call(user, vm, fn->i, a->items[2], result, err);
    }
    default:
        return bad(vm, err, "call of a class that only names a type");
    }
}

/* ---------------------------------------------------------------- hooks: storages */

/* ('storage', torch.<T>Storage, key, location, numel[, view_metadata]). */
static ribo_status hook_persistent(void *user, ribo_pk_vm *vm, uint32_t pid, uint32_t *result, ribo_error *err) {
    reader *r = user;
    const ribo_pk_obj *t = ribo_pk_obj_at(vm, pid);
    if (t->kind != RIBO_PK_TUPLE || (t->n != 5 && t->n != 6) || !ribo_pk_is_str(vm, t->items[0], "storage"))
        return bad(vm, err, "persistent id is not ('storage', type, key, location, size)");
    const ribo_pk_obj *cls = ribo_pk_obj_at(vm, t->items[1]), *key = ribo_pk_obj_at(vm, t->items[2]);
    const ribo_pk_obj *numel = ribo_pk_obj_at(vm, t->items[4]);
    if (cls->kind != RIBO_PK_CLASS || cls->i < C_STORAGE) return bad(vm, err, "persistent id type is not a storage class");
    if (key->kind != RIBO_PK_STR || key->len == 0 || key->len > 64 || memchr(key->s, 0, key->len))
        return bad(vm, err, "storage key is not a short string");
    if (numel->kind != RIBO_PK_INT || numel->i < 0) return bad(vm, err, "storage size is not a non-negative int");
    if (t->n == 6 && ribo_pk_obj_at(vm, t->items[5])->kind != RIBO_PK_NONE)
        return bad(vm, err, "legacy storage views (view_metadata) are not supported");
    const storage_class *c = &r->classes[cls->i - C_STORAGE];
    size_t si = 0;
    for (; si < r->n_storages; ++si)
        if (strlen(r->storages[si].key) == key->len && memcmp(r->storages[si].key, key->s, key->len) == 0) break;
    if (si < r->n_storages) {
        if (strcmp(r->storages[si].type_name, c->name) != 0 || r->storages[si].numel != numel->i)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: storage '%s' is declared twice with different types or sizes",
                                  r->what, r->storages[si].key);
    } else {
        if (!grow1((void **)&r->storages, r->n_storages, sizeof *r->storages)) return oom(r, err);
        ribo_torch_storage *s = &r->storages[r->n_storages];
        memset(s, 0, sizeof *s);
        s->key = malloc(key->len + 1);
        if (!s->key) return oom(r, err);
        memcpy(s->key, key->s, key->len);
        s->key[key->len] = '\0';
        snprintf(s->type_name, sizeof s->type_name, "%s", c->name);
        s->dtype = c->dtype;
        s->elsize = c->elsize;
        s->numel = numel->i;
        ++r->n_storages;
    }
    RIBO_TRY(ribo_pk_new(vm, RIBO_PK_STORAGE, result, err));
    ribo_pk_obj_at(vm, *result)->i = (int64_t)si;
    return RIBO_OK;
}

static const ribo_pk_hooks torch_hooks = {hook_global, hook_call, hook_persistent};

/* ---------------------------------------------------------------- the state_dict */

/* True when dict d holds at least one tensor value. */
static bool has_tensor(ribo_pk_vm *vm, uint32_t d) {
    const ribo_pk_obj *o = ribo_pk_obj_at(vm, d);
    for (size_t i = 1; i < o->n; i += 2)
        if (ribo_pk_obj_at(vm, o->items[i])->kind == RIBO_PK_TENSOR) return true;
    return false;
}

/* The dict of tensors: the top object, or what it wraps under a usual key. */
static ribo_status find_state_dict(ribo_pk_vm *vm, uint32_t top, uint32_t *out, ribo_error *err) {
    static const char *const wrappers[] = {"state_dict", "model", "module", "model_state_dict"};
    for (int depth = 0; depth < 4; ++depth) {
        if (ribo_pk_obj_at(vm, top)->kind != RIBO_PK_DICT)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: the checkpoint's pickle holds no dict of tensors", vm->what);
        if (has_tensor(vm, top)) break;
        uint32_t next = UINT32_MAX;
        for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0] && next == UINT32_MAX; ++i) {
            next = ribo_pk_dict_get(vm, top, wrappers[i]);
            if (next != UINT32_MAX && ribo_pk_obj_at(vm, next)->kind != RIBO_PK_DICT) next = UINT32_MAX;
        }
        if (next == UINT32_MAX) break;
        top = next;
    }
    if (ribo_pk_obj_at(vm, top)->kind != RIBO_PK_DICT || !has_tensor(vm, top))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: the checkpoint holds no tensors", vm->what);
    *out = top;
    return RIBO_OK;
}

/* Copies the named tensors of dict d into out. */
static ribo_status collect(reader *r, ribo_pk_vm *vm, uint32_t d, ribo_torch_pickle *out, ribo_error *err) {
    const ribo_pk_obj *o = ribo_pk_obj_at(vm, d);
    for (size_t i = 0; i + 1 < o->n; i += 2) {
        const ribo_pk_obj *k = ribo_pk_obj_at(vm, o->items[i]), *v = ribo_pk_obj_at(vm, o->items[i + 1]);
        if (v->kind != RIBO_PK_TENSOR) continue;
        if (k->kind != RIBO_PK_STR || memchr(k->s, 0, k->len))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: a tensor's state_dict key is not a string", r->what);
        if (!grow1((void **)&out->tensors, out->n_tensors, sizeof *out->tensors)) return oom(r, err);
        ribo_torch_tensor *t = &out->tensors[out->n_tensors];
        const tensor_view *tv = &r->views[v->i];
        memset(t, 0, sizeof *t);
        t->name = malloc(k->len + 1);
        if (!t->name) return oom(r, err);
        memcpy(t->name, k->s, k->len);
        t->name[k->len] = '\0';
        t->storage = tv->storage;
        t->offset = tv->offset;
        t->ndim = tv->ndim;
        memcpy(t->shape, tv->shape, sizeof t->shape);
        memcpy(t->stride, tv->stride, sizeof t->stride);
        ++out->n_tensors;
    }
    return RIBO_OK;
}

static void reader_free(reader *r) {
    for (size_t i = 0; i < r->n_storages; ++i) free(r->storages[i].key);
    free(r->storages);
    free(r->classes);
    free(r->views);
}

ribo_status ribo_torch_pickle_read(const unsigned char *buf, size_t len, const char *what, ribo_torch_pickle *out,
                                   size_t *consumed, ribo_error *err) {
    memset(out, 0, sizeof *out);
    reader r = {.what = what};
    ribo_pk_vm vm;
    ribo_pk_init(&vm, what, &torch_hooks, &r);
    uint32_t top = 0, sd = 0;
    ribo_status s = ribo_pk_run(&vm, buf, len, consumed, &top, err);
    if (s == RIBO_OK) s = find_state_dict(&vm, top, &sd, err);
    if (s == RIBO_OK) s = collect(&r, &vm, sd, out, err);
    ribo_pk_free(&vm);
    /* the storages move to out */
    out->storages = r.storages;
    out->n_storages = r.n_storages;
    r.storages = NULL;
    r.n_storages = 0;
    reader_free(&r);
    if (s != RIBO_OK) ribo_torch_pickle_free(out);
    return s;
}

void ribo_torch_pickle_free(ribo_torch_pickle *p) {
    for (size_t i = 0; i < p->n_storages; ++i) free(p->storages[i].key);
    for (size_t i = 0; i < p->n_tensors; ++i) free(p->tensors[i].name);
    free(p->storages);
    free(p->tensors);
    memset(p, 0, sizeof *p);
}
