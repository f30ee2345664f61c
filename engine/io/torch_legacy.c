/* The legacy format's small pickles (torch_legacy.h): they hold only ints, strings, bools and
 * containers, so any class in them is refused. */
#include "engine/io/torch_legacy.h"

#include "engine/io/torch_pickle_vm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hooks: no class at all */

static ribo_status refuse_global(void *user, ribo_pk_vm *vm, const char *module, const char *name, int64_t *id,
                                 ribo_error *err) {
    (void)user;
    (void)module;
    (void)name;
    (void)id;
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: unexpected class in a legacy header pickle (byte %zu)", vm->what,
                          vm->pos);
}

static ribo_status refuse_call(void *user, ribo_pk_vm *vm, int64_t id, uint32_t args, uint32_t *result,
                               ribo_error *err) {
    (void)user;
    (void)id;
    (void)args;
    (void)result;
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: unexpected call in a legacy header pickle (byte %zu)", vm->what,
                          vm->pos);
}

static ribo_status refuse_persistent(void *user, ribo_pk_vm *vm, uint32_t pid, uint32_t *result, ribo_error *err) {
    (void)user;
    (void)pid;
    (void)result;
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: unexpected persistent id in a legacy header pickle (byte %zu)",
                          vm->what, vm->pos);
}

static const ribo_pk_hooks no_class_hooks = {refuse_global, refuse_call, refuse_persistent};

static ribo_status oom(const char *what, ribo_error *err) {
    return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the pickle", what);
}

/* ---------------------------------------------------------------- magic, protocol, sys_info, keys */

/* 0x1950a86a20f9469cfc6c as LONG1 writes it. */
static const unsigned char legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

ribo_status ribo_torch_legacy_header(const unsigned char *buf, size_t len, const char *what, size_t *consumed,
                                     ribo_error *err) {
    ribo_pk_vm vm;
    ribo_pk_init(&vm, what, &no_class_hooks, NULL);
    size_t at = 0, n = 0;
    uint32_t v = 0;
    ribo_status s = ribo_pk_run(&vm, buf, len, &n, &v, err);
    const ribo_pk_obj *o = s == RIBO_OK ? ribo_pk_obj_at(&vm, v) : NULL;
    if (s == RIBO_OK && (o->kind != RIBO_PK_BIGINT || o->len != sizeof legacy_magic ||
                         memcmp(o->s, legacy_magic, sizeof legacy_magic) != 0))
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: not a PyTorch checkpoint (no legacy magic number)", what);
    at += n;
    if (s == RIBO_OK) s = ribo_pk_run(&vm, buf + at, len - at, &n, &v, err);
    if (s == RIBO_OK && (ribo_pk_obj_at(&vm, v)->kind != RIBO_PK_INT || ribo_pk_obj_at(&vm, v)->i != 1001))
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: unsupported legacy PyTorch protocol version", what);
    at += n;
    if (s == RIBO_OK) s = ribo_pk_run(&vm, buf + at, len - at, &n, &v, err);
    if (s == RIBO_OK) {
        uint32_t le = ribo_pk_dict_get(&vm, v, "little_endian");
        if (ribo_pk_obj_at(&vm, v)->kind != RIBO_PK_DICT)
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: legacy sys_info is not a dict", what);
        else if (le != UINT32_MAX && (ribo_pk_obj_at(&vm, le)->kind != RIBO_PK_BOOL || !ribo_pk_obj_at(&vm, le)->i))
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: big-endian PyTorch checkpoints are not supported", what);
    }
    at += n;
    ribo_pk_free(&vm);
    if (s == RIBO_OK) *consumed = at;
    return s;
}

ribo_status ribo_torch_legacy_keys(const unsigned char *buf, size_t len, const char *what, char ***keys, size_t *n,
                                   size_t *consumed, ribo_error *err) {
    *keys = NULL;
    *n = 0;
    ribo_pk_vm vm;
    ribo_pk_init(&vm, what, &no_class_hooks, NULL);
    uint32_t v = 0;
    ribo_status s = ribo_pk_run(&vm, buf, len, consumed, &v, err);
    const ribo_pk_obj *o = s == RIBO_OK ? ribo_pk_obj_at(&vm, v) : NULL;
    if (s == RIBO_OK && o->kind != RIBO_PK_LIST)
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: legacy storage key list is not a list", what);
    if (s == RIBO_OK && o->n) {
        *keys = calloc(o->n, sizeof **keys);
        if (!*keys) s = oom(what, err);
    }
    for (size_t i = 0; s == RIBO_OK && i < o->n; ++i) {
        const ribo_pk_obj *k = ribo_pk_obj_at(&vm, o->items[i]);
        if (k->kind != RIBO_PK_STR || memchr(k->s, 0, k->len)) {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: legacy storage key %zu is not a string", what, i);
            break;
        }
        (*keys)[i] = malloc(k->len + 1);
        if (!(*keys)[i]) {
            s = oom(what, err);
            break;
        }
        memcpy((*keys)[i], k->s, k->len);
        (*keys)[i][k->len] = '\0';
        *n = i + 1;
    }
    ribo_pk_free(&vm);
    if (s != RIBO_OK) {
        for (size_t i = 0; i < *n; ++i) free((*keys)[i]);
        free(*keys);
        *keys = NULL;
        *n = 0;
    }
    return s;
}
