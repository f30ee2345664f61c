/* Opens a session on MODEL_DIR, embeds one sequence and closes it, N times: run under valgrind by the
 * check_session_leaks test (every block ribo allocates must be freed by ribo_session_close). Exits 1
 * on an error (printed), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>

#include "ribo/ribo.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: session_leak_driver MODEL_DIR N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    o.model_dir = argv[1];
    o.max_tokens = 2048;
    o.quiet = true;
    const char *backend = getenv("RIBO_TEST_BACKEND");
    if (backend && *backend) o.backend = backend;
    for (int i = 0; i < n; ++i) {
        ribo_session *s = NULL;
        ribo_error err = {0};
        if (ribo_session_open(&o, &s, &err) != RIBO_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        const char *id = "a", *seq = "MKTAYIAKQR";
        float v[4096];
        ribo_status st = ribo_session_embed(s, &id, &seq, 1, NULL, v, 1, NULL, NULL, NULL, &err);
        ribo_session_close(s);
        if (st != RIBO_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    }
    return 0;
}
