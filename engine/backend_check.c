/* The backend contract enforced: every mandatory member of a device's, stream's and event's table
 * is present (checked when the object is made, so a backend that lacks one is refused by name before
 * any work, not crashed on first use), and the constructors that run those checks. */
#include <stdio.h>
#include <string.h>

#include "engine/backend.h"

/* One mandatory member: its name and whether the table has it. */
typedef struct member {
    const char *name;
    bool present;
} member;

#define MEMBER(table, m) {#m, (table)->m != NULL}

static ribo_status check_members(const char *backend, const char *what, const member *m, size_t n, ribo_error *err) {
    for (size_t i = 0; i < n; ++i)
        if (!m[i].present)
            return ribo_error_set(err, RIBO_ERR_INTERNAL, "backend '%s' has no '%s' %s", backend, m[i].name, what);
    return RIBO_OK;
}

/* The backend name a device reports (for messages; "?" when it cannot say). */
static void backend_name(ribo_device *dev, char *out, size_t cap) {
    snprintf(out, cap, "?");
    if (!dev || !dev->iface || !dev->iface->get_props) return;
    ribo_device_props p;
    memset(&p, 0, sizeof p);
    dev->iface->get_props(dev, &p);
    if (p.backend[0]) snprintf(out, cap, "%s", p.backend);
}

ribo_status ribo_device_check_tables(const char *backend, const ribo_device *dev, ribo_error *err) {
    if (!dev->iface) return ribo_error_set(err, RIBO_ERR_INTERNAL, "backend '%s' has no device table", backend);
    if (!dev->kernels) return ribo_error_set(err, RIBO_ERR_INTERNAL, "backend '%s' has no kernel table", backend);
    const ribo_device_i *d = dev->iface;
    const member dm[] = {MEMBER(d, get_props),     MEMBER(d, buffer_alloc), MEMBER(d, buffer_free),
                         MEMBER(d, host_alloc),    MEMBER(d, host_free),    MEMBER(d, stream_create),
                         MEMBER(d, event_create),  MEMBER(d, bind_thread),  MEMBER(d, memory_info),
                         MEMBER(d, clone),         MEMBER(d, destroy)};
    RIBO_TRY(check_members(backend, "device member", dm, sizeof dm / sizeof dm[0], err));
    const ribo_kernel_i *k = dev->kernels;
    const member km[] = {MEMBER(k, embed), MEMBER(k, layer_norm), MEMBER(k, linear),          MEMBER(k, attention),
                         MEMBER(k, pool),  MEMBER(k, glu),        MEMBER(k, convert_from_f32)};
    return check_members(backend, "kernel", km, sizeof km / sizeof km[0], err); /* check is optional */
}

ribo_status ribo_stream_check_table(const ribo_stream *s, ribo_error *err) {
    char name[32];
    backend_name(s->dev, name, sizeof name);
    if (!s->iface) return ribo_error_set(err, RIBO_ERR_INTERNAL, "backend '%s' has no stream table", name);
    const ribo_stream_i *t = s->iface;
    const member m[] = {MEMBER(t, copy_h2d),     MEMBER(t, copy_d2h),    MEMBER(t, wait_event),
                        MEMBER(t, record_event), MEMBER(t, synchronize), MEMBER(t, destroy)};
    return check_members(name, "stream member", m, sizeof m / sizeof m[0], err);
}

ribo_status ribo_event_check_table(const ribo_event *ev, ribo_error *err) {
    char name[32];
    backend_name(ev->dev, name, sizeof name);
    if (!ev->iface) return ribo_error_set(err, RIBO_ERR_INTERNAL, "backend '%s' has no event table", name);
    const ribo_event_i *t = ev->iface;
    const member m[] = {MEMBER(t, synchronize), MEMBER(t, query), MEMBER(t, elapsed_ms), MEMBER(t, destroy)};
    return check_members(name, "event member", m, sizeof m / sizeof m[0], err);
}

ribo_status ribo_device_open(const ribo_backend_reg *reg, int index, ribo_storage storage, ribo_device **out,
                             ribo_error *err) {
    *out = NULL;
    ribo_device *dev = NULL;
    RIBO_TRY(reg->device_open(index, storage, &dev, err));
    ribo_status s = ribo_device_check_tables(reg->name, dev, err);
    if (s != RIBO_OK) {
        if (dev->iface && dev->iface->destroy) dev->iface->destroy(dev);
        return s;
    }
    *out = dev;
    return RIBO_OK;
}

ribo_status ribo_device_clone(ribo_device *dev, ribo_device **out, ribo_error *err) {
    *out = NULL;
    ribo_device *c = NULL;
    RIBO_TRY(dev->iface->clone(dev, &c, err));
    char name[32];
    backend_name(dev, name, sizeof name);
    ribo_status s = ribo_device_check_tables(name, c, err);
    if (s != RIBO_OK) {
        if (c->iface && c->iface->destroy) c->iface->destroy(c);
        return s;
    }
    *out = c;
    return RIBO_OK;
}

ribo_status ribo_stream_create(ribo_device *dev, int priority, ribo_stream **out, ribo_error *err) {
    *out = NULL;
    ribo_stream *s = NULL;
    RIBO_TRY(dev->iface->stream_create(dev, priority, &s, err));
    ribo_status st = ribo_stream_check_table(s, err);
    if (st != RIBO_OK) {
        if (s->iface && s->iface->destroy) s->iface->destroy(s);
        return st;
    }
    *out = s;
    return RIBO_OK;
}

ribo_status ribo_event_create(ribo_device *dev, bool timing, ribo_event **out, ribo_error *err) {
    *out = NULL;
    ribo_event *ev = NULL;
    RIBO_TRY(dev->iface->event_create(dev, timing, &ev, err));
    ribo_status st = ribo_event_check_table(ev, err);
    if (st != RIBO_OK) {
        if (ev->iface && ev->iface->destroy) ev->iface->destroy(ev);
        return st;
    }
    *out = ev;
    return RIBO_OK;
}

ribo_status ribo_kernel_check(ribo_device *dev, const ribo_kernel_call *c, ribo_error *err) {
    static const char *const names[] = {[RIBO_KERNEL_EMBED] = "embed",         [RIBO_KERNEL_LAYER_NORM] = "layer_norm",
                                        [RIBO_KERNEL_LINEAR] = "linear",       [RIBO_KERNEL_ATTENTION] = "attention",
                                        [RIBO_KERNEL_POOL] = "pool",           [RIBO_KERNEL_GLU] = "glu"};
    _Static_assert(sizeof names / sizeof names[0] == RIBO_KERNEL_OP_COUNT, "a kernel op without a name");
    const ribo_kernel_i *k = dev->kernels;
    const bool present[] = {[RIBO_KERNEL_EMBED] = k->embed != NULL,         [RIBO_KERNEL_LAYER_NORM] = k->layer_norm != NULL,
                            [RIBO_KERNEL_LINEAR] = k->linear != NULL,       [RIBO_KERNEL_ATTENTION] = k->attention != NULL,
                            [RIBO_KERNEL_POOL] = k->pool != NULL,           [RIBO_KERNEL_GLU] = k->glu != NULL};
    _Static_assert(sizeof present / sizeof present[0] == RIBO_KERNEL_OP_COUNT, "a kernel op without a member");
    if (c->op < 0 || c->op >= RIBO_KERNEL_OP_COUNT)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "kernel call of unknown op %d", (int)c->op);
    if (!present[c->op]) {
        char name[32];
        backend_name(dev, name, sizeof name);
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "backend '%s' has no '%s' kernel", name, names[c->op]);
    }
    return k->check ? k->check(dev, c, err) : RIBO_OK;
}
