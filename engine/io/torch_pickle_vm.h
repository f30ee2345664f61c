/* A pickle virtual machine that only builds data: None, bools, ints, floats, strings, tuples, lists
 * and dicts, plus what its hooks make of classes (GLOBAL), calls (REDUCE, NEWOBJ) and persistent ids
 * (BINPERSID). It never imports or runs anything: the hooks (torch_pickle.c) allow-list classes and
 * model the few calls a PyTorch checkpoint makes. Internal to the PyTorch reader. */
#ifndef RIBO_ENGINE_TORCH_PICKLE_VM_H
#define RIBO_ENGINE_TORCH_PICKLE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef enum ribo_pk_kind {
    RIBO_PK_NONE, RIBO_PK_BOOL, RIBO_PK_INT, RIBO_PK_BIGINT, RIBO_PK_FLOAT, RIBO_PK_STR, RIBO_PK_BYTES,
    RIBO_PK_TUPLE, RIBO_PK_LIST, RIBO_PK_DICT,
    RIBO_PK_CLASS,   /* an allowed class or function: i = the hook's id */
    RIBO_PK_STORAGE, /* i = index in the hooks' storage table */
    RIBO_PK_TENSOR,  /* i = index in the hooks' tensor table */
} ribo_pk_kind;

/* One object. Objects are referred to by index (uint32_t): containers hold indices, never copies. */
typedef struct ribo_pk_obj {
    ribo_pk_kind kind;
    int64_t i;                /* BOOL, INT, CLASS, STORAGE, TENSOR */
    double f;                 /* FLOAT */
    const unsigned char *s;   /* STR, BYTES (into the buffer); BIGINT: little-endian two's complement */
    size_t len;
    uint32_t *items;          /* TUPLE, LIST, DICT (key, value, key, value, ...) */
    size_t n, cap;
} ribo_pk_obj;

typedef struct ribo_pk_vm ribo_pk_vm;

/* What the machine asks its user. Each returns RIBO_OK or a one-line error (naming vm->what). */
typedef struct ribo_pk_hooks {
    /* GLOBAL / STACK_GLOBAL: the id of an allowed module.name, or a refusal naming the class. */
    ribo_status (*global)(void *user, ribo_pk_vm *vm, const char *module, const char *name, int64_t *id,
                          ribo_error *err);
    /* REDUCE / NEWOBJ: the object made by calling class id with the tuple args. */
    ribo_status (*call)(void *user, ribo_pk_vm *vm, int64_t id, uint32_t args, uint32_t *result, ribo_error *err);
    /* BINPERSID: the object a persistent id stands for. */
    ribo_status (*persistent)(void *user, ribo_pk_vm *vm, uint32_t pid, uint32_t *result, ribo_error *err);
} ribo_pk_hooks;

struct ribo_pk_vm {
    const char *what;         /* the file, for errors */
    size_t pos;               /* offset of the opcode being run, for errors */
    const ribo_pk_hooks *hooks;
    void *user;
    ribo_pk_obj *objs;
    size_t n_objs, cap_objs;
    uint32_t *stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    uint32_t *memo;           /* UINT32_MAX: empty */
    size_t memo_cap, memo_count;
};

void ribo_pk_init(ribo_pk_vm *vm, const char *what, const ribo_pk_hooks *hooks, void *user);
void ribo_pk_free(ribo_pk_vm *vm);

/* Runs one pickle from buf[0, len) up to its STOP: *result is the object it leaves, *consumed the
 * bytes up to and including STOP. Objects of earlier runs stay valid until ribo_pk_free. */
ribo_status ribo_pk_run(ribo_pk_vm *vm, const unsigned char *buf, size_t len, size_t *consumed, uint32_t *result,
                        ribo_error *err);

/* A new object of kind (zeroed otherwise); *idx is its index. Invalidates ribo_pk_obj pointers. */
ribo_status ribo_pk_new(ribo_pk_vm *vm, ribo_pk_kind kind, uint32_t *idx, ribo_error *err);
ribo_pk_obj *ribo_pk_obj_at(ribo_pk_vm *vm, uint32_t idx);
/* The value of key (a string) in dict d; UINT32_MAX when absent or d is not a dict. */
uint32_t ribo_pk_dict_get(ribo_pk_vm *vm, uint32_t d, const char *key);
/* True when object idx is the string s. */
bool ribo_pk_is_str(ribo_pk_vm *vm, uint32_t idx, const char *s);
/* A printable, NUL-terminated copy of a string object (at most cap-1 bytes, others as '?'). */
void ribo_pk_str_copy(ribo_pk_vm *vm, uint32_t idx, char *out, size_t cap);

#endif
