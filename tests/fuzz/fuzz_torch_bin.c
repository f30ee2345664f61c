/* libFuzzer harness for the PyTorch checkpoint reader: each input is read as a whole checkpoint
 * (zip or legacy, through ribo_torch_bin_open_buffer), as a bare zip archive and as a bare
 * state_dict pickle. Every tensor handed out is read in full, so a view reaching outside the input
 * shows up under AddressSanitizer. Built with -DRIBO_FUZZ=ON (clang); run by scripts/fuzz.sh. */
#include <stddef.h>
#include <stdint.h>

#include "engine/io/torch_bin.h"
#include "engine/io/torch_pickle.h"
#include "engine/io/torch_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of every tensor (the sum keeps the reads). */
static unsigned touch(const ribo_safetensors *st) {
    unsigned sum = 0;
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const ribo_st_tensor *t = ribo_safetensors_at(st, i);
        const unsigned char *p = t->data;
        for (size_t k = 0; k < t->nbytes; ++k) sum += p[k];
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ribo_error err;
    ribo_error_clear(&err);
    ribo_safetensors *st = NULL;
    if (ribo_torch_bin_open_buffer("fuzz.bin", data, size, &st, &err) == RIBO_OK) {
        volatile unsigned sink = touch(st);
        (void)sink;
        ribo_safetensors_close(st);
    }
    ribo_zip z;
    if (ribo_zip_read(data, size, "fuzz.zip", &z, &err) == RIBO_OK) {
        volatile unsigned sink = 0;
        for (size_t i = 0; i < z.n; ++i) { /* each entry's name and data lie within the input */
            const ribo_zip_entry *e = &z.entries[i];
            if (e->name_len) sink += (unsigned char)e->name[e->name_len - 1];
            if (e->size) sink += data[e->data_offset] + data[e->data_offset + e->size - 1];
        }
        (void)sink;
        ribo_zip_free(&z);
    }
    ribo_torch_pickle pk;
    size_t used = 0;
    if (ribo_torch_pickle_read(data, size, "fuzz.pkl", &pk, &used, &err) == RIBO_OK) ribo_torch_pickle_free(&pk);
    return 0;
}
