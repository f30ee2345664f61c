/* The data-only pickle machine (torch_pickle_vm.h): protocols 0-5 framing, the opcodes PyTorch
 * checkpoints use and a few harmless neighbours; any other opcode is refused. All work is linear in
 * the input: containers hold object indices, memo gets share objects, nothing is copied deeply. */
#include "engine/io/torch_pickle_vm.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PK_NAME_MAX 256 /* module or class name length in GLOBAL */

/* ---------------------------------------------------------------- objects, stack, memo */

void ribo_pk_init(ribo_pk_vm *vm, const char *what, const ribo_pk_hooks *hooks, void *user) {
    memset(vm, 0, sizeof *vm);
    vm->what = what;
    vm->hooks = hooks;
    vm->user = user;
}

void ribo_pk_free(ribo_pk_vm *vm) {
    for (size_t i = 0; i < vm->n_objs; ++i) free(vm->objs[i].items);
    free(vm->objs);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    memset(vm, 0, sizeof *vm);
}

/* Grows *v (elements of size el) to hold at least need; false when out of memory. */
static bool grow(void **v, size_t *cap, size_t need, size_t el) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / el) return false;
        c *= 2;
    }
    void *p = realloc(*v, c * el);
    if (!p) return false;
    *v = p;
    *cap = c;
    return true;
}

static ribo_status oom(ribo_pk_vm *vm, ribo_error *err) {
    return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the pickle", vm->what);
}

/* A malformed-pickle error at the current opcode. */
static ribo_status bad(ribo_pk_vm *vm, ribo_error *err, const char *why) {
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: corrupt pickle at byte %zu: %s", vm->what, vm->pos, why);
}

ribo_status ribo_pk_new(ribo_pk_vm *vm, ribo_pk_kind kind, uint32_t *idx, ribo_error *err) {
    if (vm->n_objs >= UINT32_MAX - 1) return oom(vm, err);
    if (!grow((void **)&vm->objs, &vm->cap_objs, vm->n_objs + 1, sizeof *vm->objs)) return oom(vm, err);
    ribo_pk_obj *o = &vm->objs[vm->n_objs];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    *idx = (uint32_t)vm->n_objs++;
    return RIBO_OK;
}

ribo_pk_obj *ribo_pk_obj_at(ribo_pk_vm *vm, uint32_t idx) {
    return &vm->objs[idx];
}

bool ribo_pk_is_str(ribo_pk_vm *vm, uint32_t idx, const char *s) {
    const ribo_pk_obj *o = &vm->objs[idx];
    size_t n = strlen(s);
    return o->kind == RIBO_PK_STR && o->len == n && memcmp(o->s, s, n) == 0;
}

uint32_t ribo_pk_dict_get(ribo_pk_vm *vm, uint32_t d, const char *key) {
    const ribo_pk_obj *o = &vm->objs[d];
    if (o->kind != RIBO_PK_DICT) return UINT32_MAX;
    for (size_t i = 0; i + 1 < o->n; i += 2)
        if (ribo_pk_is_str(vm, o->items[i], key)) return o->items[i + 1];
    return UINT32_MAX;
}

void ribo_pk_str_copy(ribo_pk_vm *vm, uint32_t idx, char *out, size_t cap) {
    const ribo_pk_obj *o = &vm->objs[idx];
    size_t n = 0;
    if (o->kind == RIBO_PK_STR || o->kind == RIBO_PK_BYTES)
        for (; n < o->len && n + 1 < cap; ++n) out[n] = o->s[n] >= 0x20 && o->s[n] < 0x7f ? (char)o->s[n] : '?';
    out[n] = '\0';
}

static ribo_status push(ribo_pk_vm *vm, uint32_t idx, ribo_error *err) {
    if (!grow((void **)&vm->stack, &vm->cap_stack, vm->sp + 1, sizeof *vm->stack)) return oom(vm, err);
    vm->stack[vm->sp++] = idx;
    return RIBO_OK;
}

/* Pushes a new scalar object. */
static ribo_status push_new(ribo_pk_vm *vm, ribo_pk_kind kind, int64_t i, const unsigned char *s, size_t len,
                            ribo_error *err) {
    uint32_t idx = 0;
    RIBO_TRY(ribo_pk_new(vm, kind, &idx, err));
    vm->objs[idx].i = i;
    vm->objs[idx].s = s;
    vm->objs[idx].len = len;
    return push(vm, idx, err);
}

/* The stack floor: the last mark's height (0 when none). Items above it may be popped. */
static size_t floor_of(const ribo_pk_vm *vm) { return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0; }

static ribo_status pop(ribo_pk_vm *vm, uint32_t *idx, ribo_error *err) {
    *idx = 0; /* set on every path (gcc -O3 cannot see through bad()) */
    if (vm->sp <= floor_of(vm)) return bad(vm, err, "stack underflow");
    *idx = vm->stack[--vm->sp];
    return RIBO_OK;
}

/* Pops the topmost mark: *from is the stack height it recorded. */
static ribo_status pop_mark(ribo_pk_vm *vm, size_t *from, ribo_error *err) {
    if (!vm->n_marks) return bad(vm, err, "no MARK on the stack");
    *from = vm->marks[--vm->n_marks];
    return RIBO_OK;
}

/* Appends stack[from, sp) to container c (as items) and pops them. */
static ribo_status append_items(ribo_pk_vm *vm, uint32_t c, size_t from, ribo_error *err) {
    ribo_pk_obj *o = &vm->objs[c];
    size_t k = vm->sp - from;
    if (k == 0) return RIBO_OK;
    if (!grow((void **)&o->items, &o->cap, o->n + k, sizeof *o->items)) return oom(vm, err);
    memcpy(o->items + o->n, vm->stack + from, k * sizeof *o->items);
    o->n += k;
    vm->sp = from;
    return RIBO_OK;
}

/* Makes a tuple of the top k stack items (popped) and pushes it. */
static ribo_status make_tuple(ribo_pk_vm *vm, size_t from, ribo_error *err) {
    uint32_t t = 0;
    RIBO_TRY(ribo_pk_new(vm, RIBO_PK_TUPLE, &t, err));
    RIBO_TRY(append_items(vm, t, from, err));
    return push(vm, t, err);
}

static ribo_status memo_put(ribo_pk_vm *vm, uint64_t key, size_t len, ribo_error *err) {
    if (vm->sp <= floor_of(vm)) return bad(vm, err, "memo put of an empty stack");
    if (key > len) return bad(vm, err, "memo index out of range");
    size_t old = vm->memo_cap;
    if (!grow((void **)&vm->memo, &vm->memo_cap, (size_t)key + 1, sizeof *vm->memo)) return oom(vm, err);
    for (size_t i = old; i < vm->memo_cap; ++i) vm->memo[i] = UINT32_MAX;
    if (vm->memo[key] == UINT32_MAX) ++vm->memo_count;
    vm->memo[key] = vm->stack[vm->sp - 1];
    return RIBO_OK;
}

static ribo_status memo_get(ribo_pk_vm *vm, uint64_t key, ribo_error *err) {
    if (key >= vm->memo_cap || vm->memo[key] == UINT32_MAX) return bad(vm, err, "memo get of an unset index");
    return push(vm, vm->memo[key], err);
}

/* ---------------------------------------------------------------- operand readers */

/* Little-endian unsigned integer of n bytes at buf[*p] (advanced); false past the end. */
static bool read_le(const unsigned char *buf, size_t len, size_t *p, size_t n, uint64_t *v) {
    if (n > len - *p) return false;
    *v = 0;
    for (size_t i = n; i-- > 0;) *v = (*v << 8) | buf[*p + i];
    *p += n;
    return true;
}

/* LONG1/LONG4 payload: an int when it fits int64, else a BIGINT holding the bytes. */
static ribo_status push_long(ribo_pk_vm *vm, const unsigned char *b, size_t n, ribo_error *err) {
    if (n > 8) return push_new(vm, RIBO_PK_BIGINT, 0, b, n, err);
    uint64_t u = 0;
    for (size_t i = n; i-- > 0;) u = (u << 8) | b[i];
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return push_new(vm, RIBO_PK_INT, v, NULL, 0, err);
}

/* GLOBAL's "module\nname\n" operand; false when malformed. */
static bool read_line(const unsigned char *buf, size_t len, size_t *p, char *out) {
    size_t i = 0;
    while (*p < len && buf[*p] != '\n') {
        if (i + 1 >= PK_NAME_MAX || buf[*p] == '\0') return false;
        out[i++] = (char)buf[(*p)++];
    }
    if (*p >= len) return false;
    ++*p;
    out[i] = '\0';
    return true;
}

/* Resolves module.name through the hook and pushes the class object. */
static ribo_status push_global(ribo_pk_vm *vm, const char *module, const char *name, ribo_error *err) {
    int64_t id;
    RIBO_TRY(vm->hooks->global(vm->user, vm, module, name, &id, err));
    return push_new(vm, RIBO_PK_CLASS, id, NULL, 0, err);
}

/* ---------------------------------------------------------------- opcodes with structure */

/* REDUCE and NEWOBJ: callable, args -> hook result. */
static ribo_status op_call(ribo_pk_vm *vm, ribo_error *err) {
    uint32_t args = 0, fn = 0, res = 0;
    RIBO_TRY(pop(vm, &args, err));
    RIBO_TRY(pop(vm, &fn, err));
    if (vm->objs[fn].kind != RIBO_PK_CLASS) return bad(vm, err, "call of an object that is not a class");
    if (vm->objs[args].kind != RIBO_PK_TUPLE) return bad(vm, err, "call arguments are not a tuple");
    RIBO_TRY(vm->hooks->call(vm->user, vm, vm->objs[fn].i, args, &res, err));
    return push(vm, res, err);
}

/* SETITEM / SETITEMS: key/value pairs in stack[from, sp) into the dict below them. */
static ribo_status op_setitems(ribo_pk_vm *vm, size_t from, ribo_error *err) {
    if ((vm->sp - from) % 2) return bad(vm, err, "odd number of items for a dict");
    if (from == 0 || from <= floor_of(vm)) return bad(vm, err, "SETITEMS without a dict");
    uint32_t d = vm->stack[from - 1];
    if (vm->objs[d].kind != RIBO_PK_DICT) return bad(vm, err, "SETITEMS on an object that is not a dict");
    return append_items(vm, d, from, err);
}

/* APPEND / APPENDS / ADDITEMS: stack[from, sp) into the list (or set) below them. */
static ribo_status op_appends(ribo_pk_vm *vm, size_t from, ribo_error *err) {
    if (from == 0 || from <= floor_of(vm)) return bad(vm, err, "APPENDS without a list");
    uint32_t l = vm->stack[from - 1];
    if (vm->objs[l].kind != RIBO_PK_LIST) return bad(vm, err, "APPENDS on an object that is not a list");
    return append_items(vm, l, from, err);
}

/* BINPERSID: pid -> hook result. */
static ribo_status op_persid(ribo_pk_vm *vm, ribo_error *err) {
    uint32_t pid = 0, res = 0;
    RIBO_TRY(pop(vm, &pid, err));
    RIBO_TRY(vm->hooks->persistent(vm->user, vm, pid, &res, err));
    return push(vm, res, err);
}

/* ---------------------------------------------------------------- the loop */

/* Runs one opcode at buf[*p] (advanced past it and its operands); *stop when it was STOP. */
static ribo_status step(ribo_pk_vm *vm, const unsigned char *buf, size_t len, size_t *p, bool *stop,
                        ribo_error *err) {
    vm->pos = *p;
    unsigned char op = buf[(*p)++];
    uint64_t v = 0;
    uint32_t a = 0, b = 0;
    size_t from = 0;
    char module[PK_NAME_MAX], name[PK_NAME_MAX];
#define NEED(n)                                                          \
    do {                                                                 \
        if (!read_le(buf, len, p, (n), &v)) return bad(vm, err, "operand past the end"); \
    } while (0)
    switch (op) {
    case 0x80: /* PROTO */
        NEED(1);
        if (v > 5) return bad(vm, err, "unknown pickle protocol");
        return RIBO_OK;
    case 0x95: /* FRAME */
        NEED(8);
        return RIBO_OK;
    case '.': /* STOP */
        *stop = true;
        return RIBO_OK;
    case '(': /* MARK */
        if (!grow((void **)&vm->marks, &vm->cap_marks, vm->n_marks + 1, sizeof *vm->marks)) return oom(vm, err);
        vm->marks[vm->n_marks++] = vm->sp;
        return RIBO_OK;
    case '0': /* POP */
        return pop(vm, &a, err);
    case '1': /* POP_MARK */
        RIBO_TRY(pop_mark(vm, &from, err));
        vm->sp = from;
        return RIBO_OK;
    case '2': /* DUP */
        RIBO_TRY(pop(vm, &a, err));
        RIBO_TRY(push(vm, a, err));
        return push(vm, a, err);
    case 'N': return push_new(vm, RIBO_PK_NONE, 0, NULL, 0, err);
    case 0x88: return push_new(vm, RIBO_PK_BOOL, 1, NULL, 0, err); /* NEWTRUE */
    case 0x89: return push_new(vm, RIBO_PK_BOOL, 0, NULL, 0, err); /* NEWFALSE */
    case 'K': NEED(1); return push_new(vm, RIBO_PK_INT, (int64_t)v, NULL, 0, err); /* BININT1 */
    case 'M': NEED(2); return push_new(vm, RIBO_PK_INT, (int64_t)v, NULL, 0, err); /* BININT2 */
    case 'J': /* BININT: signed 32-bit */
        NEED(4);
        return push_new(vm, RIBO_PK_INT, (int64_t)(int32_t)(uint32_t)v, NULL, 0, err);
    case 0x8a: /* LONG1 */
    case 0x8b: /* LONG4 */
        NEED(op == 0x8a ? 1 : 4);
        if (v > len - *p) return bad(vm, err, "LONG past the end");
        *p += (size_t)v;
        return push_long(vm, buf + *p - v, (size_t)v, err);
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        if (len - *p < 8) return bad(vm, err, "operand past the end");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | buf[*p + (size_t)i];
        *p += 8;
        RIBO_TRY(push_new(vm, RIBO_PK_FLOAT, 0, NULL, 0, err));
        memcpy(&vm->objs[vm->stack[vm->sp - 1]].f, &bits, sizeof bits);
        return RIBO_OK;
    }
    case 0x8c: case 'X': case 0x8d: /* SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 */
    case 'U': case 'T': /* SHORT_BINSTRING, BINSTRING */
    case 'C': case 'B': case 0x8e: /* SHORT_BINBYTES, BINBYTES, BINBYTES8 */
        NEED(op == 0x8c || op == 'U' || op == 'C' ? 1 : op == 0x8d || op == 0x8e ? 8 : 4);
        if (v > len - *p) return bad(vm, err, "string past the end");
        *p += (size_t)v;
        return push_new(vm, op == 'C' || op == 'B' || op == 0x8e ? RIBO_PK_BYTES : RIBO_PK_STR, 0, buf + *p - v,
                        (size_t)v, err);
    case ')': return make_tuple(vm, vm->sp, err); /* EMPTY_TUPLE */
    case 0x85: case 0x86: case 0x87: /* TUPLE1..3 */
        if (vm->sp - floor_of(vm) < (size_t)(op - 0x84)) return bad(vm, err, "stack underflow");
        return make_tuple(vm, vm->sp - (size_t)(op - 0x84), err);
    case 't': /* TUPLE */
        RIBO_TRY(pop_mark(vm, &from, err));
        return make_tuple(vm, from, err);
    case ']': case '}': case 0x8f: /* EMPTY_LIST, EMPTY_DICT, EMPTY_SET (a set is kept as a list) */
        RIBO_TRY(ribo_pk_new(vm, op == '}' ? RIBO_PK_DICT : RIBO_PK_LIST, &a, err));
        return push(vm, a, err);
    case 'a': /* APPEND */
        if (vm->sp - floor_of(vm) < 2) return bad(vm, err, "stack underflow");
        return op_appends(vm, vm->sp - 1, err);
    case 'e': case 0x90: /* APPENDS, ADDITEMS */
        RIBO_TRY(pop_mark(vm, &from, err));
        return op_appends(vm, from, err);
    case 's': /* SETITEM */
        if (vm->sp - floor_of(vm) < 3) return bad(vm, err, "stack underflow");
        return op_setitems(vm, vm->sp - 2, err);
    case 'u': /* SETITEMS */
        RIBO_TRY(pop_mark(vm, &from, err));
        return op_setitems(vm, from, err);
    case 'q': NEED(1); return memo_put(vm, v, len, err); /* BINPUT */
    case 'r': NEED(4); return memo_put(vm, v, len, err); /* LONG_BINPUT */
    case 0x94: return memo_put(vm, vm->memo_count, len, err); /* MEMOIZE */
    case 'h': NEED(1); return memo_get(vm, v, err); /* BINGET */
    case 'j': NEED(4); return memo_get(vm, v, err); /* LONG_BINGET */
    case 'c': /* GLOBAL */
        if (!read_line(buf, len, p, module) || !read_line(buf, len, p, name))
            return bad(vm, err, "malformed GLOBAL operand");
        return push_global(vm, module, name, err);
    case 0x93: /* STACK_GLOBAL */
        RIBO_TRY(pop(vm, &b, err));
        RIBO_TRY(pop(vm, &a, err));
        if (vm->objs[a].kind != RIBO_PK_STR || vm->objs[b].kind != RIBO_PK_STR || vm->objs[a].len >= PK_NAME_MAX ||
            vm->objs[b].len >= PK_NAME_MAX)
            return bad(vm, err, "STACK_GLOBAL of non-strings");
        memcpy(module, vm->objs[a].s, vm->objs[a].len);
        module[vm->objs[a].len] = '\0';
        memcpy(name, vm->objs[b].s, vm->objs[b].len);
        name[vm->objs[b].len] = '\0';
        if (strlen(module) != vm->objs[a].len || strlen(name) != vm->objs[b].len)
            return bad(vm, err, "STACK_GLOBAL name holds a NUL");
        return push_global(vm, module, name, err);
    case 'R': case 0x81: /* REDUCE, NEWOBJ */
        return op_call(vm, err);
    case 'b': /* BUILD: the state is dropped (a state_dict's _metadata, a tensor's python attributes) */
        RIBO_TRY(pop(vm, &a, err));
        if (vm->sp <= floor_of(vm)) return bad(vm, err, "BUILD without an object");
        return RIBO_OK;
    case 'Q': /* BINPERSID */
        return op_persid(vm, err);
    default:
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: unsupported pickle opcode 0x%02x at byte %zu", vm->what, op,
                              vm->pos);
    }
#undef NEED
}

ribo_status ribo_pk_run(ribo_pk_vm *vm, const unsigned char *buf, size_t len, size_t *consumed, uint32_t *result,
                        ribo_error *err) {
    vm->sp = 0;
    vm->n_marks = 0;
    for (size_t i = 0; i < vm->memo_cap; ++i) vm->memo[i] = UINT32_MAX;
    vm->memo_count = 0;
    size_t p = 0;
    bool stop = false;
    while (!stop) {
        if (p >= len) {
            vm->pos = p;
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: pickle ends at byte %zu without STOP: truncated", vm->what,
                                  p);
        }
        RIBO_TRY(step(vm, buf, len, &p, &stop, err));
    }
    if (vm->sp != 1 || vm->n_marks)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: corrupt pickle: STOP at byte %zu leaves %zu objects", vm->what,
                              p - 1, vm->sp);
    *result = vm->stack[0];
    *consumed = p;
    return RIBO_OK;
}
