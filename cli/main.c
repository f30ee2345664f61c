/* ribo command line: parses options and calls the public API, nothing else. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ribo/ribo.h"

#define EXIT_USAGE 2

static void usage_embed(FILE *f) {
    fprintf(f,
            "usage: ribo embed --model DIR --input FILE [FILE...] --output OUT.npy|OUT.h5 [options]\n"
            "\n"
            "Embeds every FASTA record (.gz allowed) with the model in DIR (HuggingFace config.json,\n"
            "model.safetensors or pytorch_model.bin (or their sharded index), vocab.txt or tokenizer.json).\n"
            "Rows come out in input order.\n"
            "\n"
            "  -m, --model DIR        model directory\n"
            "  -i, --input FILE...    FASTA files (plain or gzip); several may follow one --input\n"
            "  -o, --output FILE      .npy (+ .ids.txt) or .h5\n"
            "      --pool MODE        mean (the default; ESM-2: residues only, DNABERT: all tokens incl.\n"
            "                         [CLS]/[SEP]), cls, none (per-residue / per-token states)\n"
            "      --dtype T          fp32 | fp16 | bf16 (default: bf16 where the device stores it, else fp32)\n"
            "      --backend NAME     auto (default) | cuda | hip | opencl\n"
            "      --device N         device index within the backend (default 0)\n"
            "      --max-tokens N     token budget of one packed batch (default %d)\n"
            "      --max-batch-seqs N at most N sequences per batch (default: no limit)\n"
            "      --truncate N       keep the first N residues of longer sequences (default: the model's\n"
            "                         limit, 1022 for ESM-2; DNABERT counts BPE tokens, 510 by default);\n"
            "                         0 makes a longer sequence an error instead\n"
            "      --skip-invalid     skip empty records (counted in a warning) instead of failing\n"
            "      --translate N      6: the inputs are DNA; embed each record's six reading frames,\n"
            "                         translated with the standard genetic code, as ID_F1 ID_F2 ID_F3\n"
            "                         (forward strand from base 1, 2, 3) and ID_R1 ID_R2 ID_R3 (reverse\n"
            "                         complement from its base 1, 2, 3); partial codons are dropped, codons\n"
            "                         with N become X, stops '*' (<unk> for ESM-2). 0 or off: no\n"
            "                         translation (default). Protein models only\n"
            "      --drop-stop-frames with --translate: leave out frames containing a stop codon (counted)\n"
            "      --lenient          DNA input (a DNA model, or --translate): a character other than\n"
            "                         A C G T N is counted instead of failing the run; a DNA model's\n"
            "                         tokenizer sees it as unknown, translation reads it as N\n"
            "\n"
            "  pipeline and devices:\n"
            "      --devices all|I,J  one pipeline per listed device of the backend (an index may repeat:\n"
            "                         two pipelines on one device); batches go to whichever is free\n"
            "      --sync             one batch at a time, every stage waited for (debugging, comparison)\n"
            "      --ring-depth N     pinned staging slots per device (default 3)\n"
            "      --writers N        threads converting and writing finished batches (default 2)\n"
            "      --queue-depth N    packed batches queued per device (default 4)\n"
            "      --window-tokens N  input read, sorted and packed in windows of N tokens (default 16 x\n"
            "                         --max-tokens); each window is one output part (.npy: one\n"
            "                         record, its rows written in place in the output)\n"
            "      --window-seqs N    ... and at most N sequences (default 32768)\n"
            "      --resume           continue an interrupted run from OUTPUT.ribo-work (the parts written\n"
            "                         so far are checked and kept; model, inputs and options must match)\n"
            "      --report FILE      write a JSON run report (stage times, stream use, bottleneck)\n"
            "      --trace FILE       write a Chrome/Perfetto trace of the streams and host threads\n"
            "  -q, --quiet            no progress, warnings or summary on stderr\n"
            "  -h, --help             this help\n",
            RIBO_DEFAULT_MAX_TOKENS);
}

static void usage_main(FILE *f) {
    fprintf(f,
            "usage: ribo <command> [options]\n"
            "\n"
            "commands:\n"
            "  embed     embed FASTA sequences with ESM-2 (protein) or DNABERT-2/DNABERT-S (DNA)\n"
            "  info      describe a model directory: architecture, parameters, memory\n"
            "  tokenize  print the token ids of FASTA sequences as the model would see them\n"
            "  devices   list the backends and devices ribo can use\n"
            "  version   print the version\n"
            "\n"
            "'ribo <command> --help' describes each command.\n");
}

/* Parses a positive (or zero when allowed) integer option; returns -1 on error. */
static long parse_int(const char *opt, const char *s, long min) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < min || v > 1000000000L) {
        fprintf(stderr, "ribo: error: %s expects an integer >= %ld, got '%s'\n", opt, min, s);
        return -1;
    }
    return v;
}

/* One accepted word of an option and the value it stands for. */
typedef struct choice {
    const char *word;
    int value;
} choice;

/* Looks s up among n choices of option opt; on no match prints "opt expects <expected>" and returns -1. */
static int parse_choice(const char *opt, const char *s, const choice *choices, int n, const char *expected, int *out) {
    for (int i = 0; i < n; ++i)
        if (!strcmp(s, choices[i].word)) {
            *out = choices[i].value;
            return 0;
        }
    fprintf(stderr, "ribo: error: %s expects %s, got '%s'\n", opt, expected, s);
    return -1;
}

static int parse_pool(const char *s, ribo_pool *out) {
    static const choice c[] = {{"mean", RIBO_POOL_MEAN}, {"cls", RIBO_POOL_CLS}, {"none", RIBO_POOL_NONE}};
    int v = 0;
    if (parse_choice("--pool", s, c, 3, "mean, cls or none", &v)) return -1;
    *out = (ribo_pool)v;
    return 0;
}

static int parse_dtype(const char *s, ribo_dtype *out) {
    static const choice c[] = {{"fp32", RIBO_DTYPE_FP32}, {"fp16", RIBO_DTYPE_FP16}, {"bf16", RIBO_DTYPE_BF16}};
    int v = 0;
    if (parse_choice("--dtype", s, c, 3, "fp32, fp16 or bf16", &v)) return -1;
    *out = (ribo_dtype)v;
    return 0;
}

/* Parses --translate: 6, or 0 / off. */
static int parse_translate(const char *s, int *out) {
    static const choice c[] = {{"6", 6}, {"0", 0}, {"off", 0}};
    return parse_choice("--translate", s, c, 3, "6 (six-frame translation) or 0/off", out);
}

/* Progress: a line rewritten in place on a terminal, a plain line every 10 s otherwise. */
typedef struct progress_state {
    bool tty;
    double last_log;
    bool drawn;
} progress_state;

static void fmt_duration(double s, char *out, size_t cap) {
    if (s < 0) snprintf(out, cap, "?");
    else if (s < 120) snprintf(out, cap, "%.0fs", s);
    else if (s < 7200) snprintf(out, cap, "%ldm%02lds", (long)s / 60, (long)s % 60);
    else snprintf(out, cap, "%.1fh", s / 3600);
}

static void on_progress(void *user, const ribo_progress *p) {
    progress_state *ps = user;
    if (!ps->tty && !p->final && p->elapsed_s - ps->last_log < 10.0) return;
    ps->last_log = p->elapsed_s;
    char eta[32], dev[160] = "";
    fmt_duration(p->eta_s, eta, sizeof eta);
    size_t k = 0;
    for (int i = 0; i < p->n_devices && i < 8 && k < sizeof dev; ++i)
        k += (size_t)snprintf(dev + k, sizeof dev - k, "%s%.0f%%", i ? " " : "", 100 * p->device_busy[i]);
    char pct[16] = "?";
    if (p->fraction_done >= 0) snprintf(pct, sizeof pct, "%.1f%%", 100 * p->fraction_done);
    if (p->final && !ps->drawn) return;
    fprintf(stderr, "%sribo: %s  %llu seqs  %.0f tok/s  ETA %s  packing %.0f%%  device busy %s%s",
            ps->tty ? "\r" : "", pct, (unsigned long long)p->sequences_done, p->tokens_per_s, eta,
            100 * p->packing_density, dev, ps->tty ? "\033[K" : "\n");
    if (ps->tty && p->final) fputc('\n', stderr);
    ps->drawn = true;
    fflush(stderr);
}

static void on_log(void *user, const char *line) {
    progress_state *ps = user;
    if (ps->tty && ps->drawn) fputs("\r\033[K", stderr);
    fprintf(stderr, "ribo: %s\n", line);
}

static void print_summary(const ribo_embed_options *o, const ribo_embed_summary *s) {
    if (s->n_skipped) fprintf(stderr, "ribo: warning: skipped %zu empty record(s) (--skip-invalid)\n", s->n_skipped);
    if (s->n_truncated)
        fprintf(stderr, "ribo: warning: truncated %zu sequence(s) to %d %s (--truncate)\n", s->n_truncated,
                (int)s->truncate_limit, s->dna_model ? "tokens" : "residues");
    if (s->n_short_frames)
        fprintf(stderr, "ribo: warning: left out %zu reading frame(s) shorter than one codon (--translate)\n",
                s->n_short_frames);
    if (s->n_stop_frames)
        fprintf(stderr, "ribo: left out %zu reading frame(s) containing a stop codon (--drop-stop-frames)\n",
                s->n_stop_frames);
    if (s->n_lenient_chars)
        fprintf(stderr, "ribo: warning: %zu DNA character(s) other than A, C, G, T, N were let through (--lenient%s)\n",
                s->n_lenient_chars, o->translate_frames ? ": read as N" : "");
    if (s->n_unknown_chars)
        fprintf(stderr, "ribo: warning: %zu %s not in the model's vocabulary were embedded as the unknown token\n",
                s->n_unknown_chars, s->dna_model ? "token(s) (e.g. N)" : "character(s)");
    /* the packing density says how full the batches were; with one batch (the whole input fit in it)
     * it only measures the input's size against the budget, which is no problem to report */
    char density[64] = "";
    if (s->n_batches > 1) snprintf(density, sizeof density, ", packing density %.1f%%", 100.0 * s->packing_density);
    fprintf(stderr,
            "ribo: embedded %zu sequences (%zu tokens, %zu batch%s%s) in %.2f s "
            "(%.0f tokens/s, %.1f sequences/s; batches alone %.3f s, %.0f tokens/s) -> %s\n",
            s->n_sequences, s->n_tokens, s->n_batches, s->n_batches == 1 ? "" : "es", density, s->seconds,
            s->seconds > 0 ? (double)s->n_tokens_computed / s->seconds : 0.0,
            s->seconds > 0 ? (double)s->n_sequences / s->seconds : 0.0, s->batch_seconds,
            s->batch_seconds > 0 ? (double)s->n_tokens_computed / s->batch_seconds : 0.0, o->output);
    if (s->n_parts_resumed)
        fprintf(stderr, "ribo: resumed: kept %zu of %zu part(s) from the interrupted run\n", s->n_parts_resumed,
                s->n_parts);
    if (s->bottleneck[0]) fprintf(stderr, "ribo: bottleneck: %s\n", s->bottleneck);
}

/* getopt's '?' (an unknown option) and ':' (a missing value; optstrings start with ':') as one
 * ribo error line (getopt's own messages are off: opterr = 0). */
static void bad_option(const char *cmd, int c, int argc, char **argv) {
    const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";
    if (c == ':') fprintf(stderr, "ribo: error: %s: option '%s' needs a value (see 'ribo %s --help')\n", cmd, arg, cmd);
    else if (optopt && optopt < 128 && strncmp(arg, "--", 2) != 0)
        fprintf(stderr, "ribo: error: %s: unknown option '-%c' (see 'ribo %s --help')\n", cmd, optopt, cmd);
    else fprintf(stderr, "ribo: error: %s: unknown option '%s' (see 'ribo %s --help')\n", cmd, arg, cmd);
}

static int cmd_embed(int argc, char **argv) {
    enum { OPT_POOL = 256, OPT_DTYPE, OPT_BACKEND, OPT_DEVICE, OPT_MAX_TOKENS, OPT_MAX_SEQS, OPT_TRUNCATE, OPT_SKIP,
           OPT_TRANSLATE, OPT_DROP_STOP, OPT_LENIENT, OPT_DEVICES, OPT_SYNC, OPT_RING, OPT_QUEUE, OPT_WIN_TOKENS,
           OPT_WIN_SEQS, OPT_RESUME, OPT_REPORT, OPT_TRACE, OPT_WRITERS };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},       {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},      {"pool", required_argument, NULL, OPT_POOL},
        {"dtype", required_argument, NULL, OPT_DTYPE}, {"backend", required_argument, NULL, OPT_BACKEND},
        {"device", required_argument, NULL, OPT_DEVICE}, {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
        {"max-batch-seqs", required_argument, NULL, OPT_MAX_SEQS}, {"truncate", required_argument, NULL, OPT_TRUNCATE},
        {"skip-invalid", no_argument, NULL, OPT_SKIP}, {"quiet", no_argument, NULL, 'q'},
        {"translate", required_argument, NULL, OPT_TRANSLATE}, {"drop-stop-frames", no_argument, NULL, OPT_DROP_STOP},
        {"lenient", no_argument, NULL, OPT_LENIENT},
        {"devices", required_argument, NULL, OPT_DEVICES}, {"sync", no_argument, NULL, OPT_SYNC},
        {"ring-depth", required_argument, NULL, OPT_RING}, {"queue-depth", required_argument, NULL, OPT_QUEUE},
        {"window-tokens", required_argument, NULL, OPT_WIN_TOKENS}, {"window-seqs", required_argument, NULL, OPT_WIN_SEQS},
        {"resume", no_argument, NULL, OPT_RESUME}, {"report", required_argument, NULL, OPT_REPORT},
        {"trace", required_argument, NULL, OPT_TRACE}, {"writers", required_argument, NULL, OPT_WRITERS},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return 1;
    int n_inputs = 0, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model_dir = optarg; break;
        case 'i': inputs[n_inputs++] = optarg; break;
        case 'o': o.output = optarg; break;
        case 'q': o.quiet = true; break;
        case 'h': usage_embed(stdout); free(inputs); return 0;
        case OPT_POOL: if (parse_pool(optarg, &o.pool)) goto usage; break;
        case OPT_DTYPE: if (parse_dtype(optarg, &o.dtype)) goto usage; break;
        case OPT_BACKEND: o.backend = optarg; break;
        case OPT_DEVICE: if ((v = parse_int("--device", optarg, 0)) < 0) goto usage; o.device = (int)v; break;
        case OPT_MAX_TOKENS: if ((v = parse_int("--max-tokens", optarg, 1)) < 0) goto usage; o.max_tokens = (int)v; break;
        case OPT_MAX_SEQS: if ((v = parse_int("--max-batch-seqs", optarg, 1)) < 0) goto usage; o.max_batch_seqs = (int)v; break;
        case OPT_TRUNCATE: if ((v = parse_int("--truncate", optarg, 0)) < 0) goto usage; o.truncate = (int)v; break;
        case OPT_SKIP: o.skip_invalid = true; break;
        case OPT_TRANSLATE: if (parse_translate(optarg, &o.translate_frames)) goto usage; break;
        case OPT_DROP_STOP: o.drop_stop_frames = true; break;
        case OPT_LENIENT: o.lenient = true; break;
        case OPT_DEVICES: o.devices = optarg; break;
        case OPT_SYNC: o.sync = true; break;
        case OPT_RING: if ((v = parse_int("--ring-depth", optarg, 1)) < 0) goto usage; o.ring_depth = (int)v; break;
        case OPT_WRITERS: if ((v = parse_int("--writers", optarg, 1)) < 0) goto usage; o.writers = (int)v; break;
        case OPT_QUEUE: if ((v = parse_int("--queue-depth", optarg, 1)) < 0) goto usage; o.queue_depth = (int)v; break;
        case OPT_WIN_TOKENS: if ((v = parse_int("--window-tokens", optarg, 1)) < 0) goto usage; o.window_tokens = (int)v; break;
        case OPT_WIN_SEQS: if ((v = parse_int("--window-seqs", optarg, 1)) < 0) goto usage; o.window_seqs = (int)v; break;
        case OPT_RESUME: o.resume = true; break;
        case OPT_REPORT: o.report_path = optarg; break;
        case OPT_TRACE: o.trace_path = optarg; break;
        case '?':
        case ':': bad_option("embed", c, argc, argv); goto usage;
        default: goto usage;
        }
    }
    for (int i = optind; i < argc; ++i) inputs[n_inputs++] = argv[i]; /* --input a b c */
    if (!o.model_dir || !n_inputs || !o.output) {
        fprintf(stderr, "ribo: error: embed needs --model, --input and --output (see 'ribo embed --help')\n");
        goto usage;
    }
    if (o.drop_stop_frames && !o.translate_frames) {
        fprintf(stderr, "ribo: error: --drop-stop-frames needs --translate 6\n");
        goto usage;
    }
    o.inputs = inputs;
    o.n_inputs = n_inputs;
    progress_state ps = {.tty = isatty(2) != 0, .last_log = 0, .drawn = false};
    if (!o.quiet) {
        o.progress = on_progress;
        o.progress_user = &ps;
        o.progress_interval_s = ps.tty ? 0.5 : 1.0;
        o.log = on_log;
        o.log_user = &ps;
    }
    ribo_embed_summary sum;
    ribo_error err = {0};
    ribo_status s = ribo_embed(&o, &sum, &err);
    free(inputs);
    if (s != RIBO_OK) {
        if (ps.tty && ps.drawn) fputs("\r\033[K", stderr);
        fprintf(stderr, "ribo: error: %s\n", err.message);
        return 1;
    }
    if (!o.quiet) print_summary(&o, &sum);
    return 0;
usage:
    free(inputs);
    return EXIT_USAGE;
}

static void usage_tokenize(FILE *f) {
    fprintf(f,
            "usage: ribo tokenize --model DIR --input FILE [FILE...] [options]\n"
            "\n"
            "Prints the token ids ribo embed would feed the model: one line per sequence, ids separated\n"
            "by spaces, in input order (specials included). Reads and checks input exactly as ribo embed,\n"
            "streaming: an input error after the first window (32768 sequences or 16 token budgets)\n"
            "exits non-zero after the lines of the earlier windows were printed.\n"
            "\n"
            "  -m, --model DIR        model directory\n"
            "  -i, --input FILE...    FASTA files (plain or gzip)\n"
            "      --with-ids         start each line with the sequence id and a tab\n"
            "      --truncate N       as ribo embed (default: the model's limit); 0 = error if longer\n"
            "      --translate 6      six-frame translation for protein models (as ribo embed)\n"
            "      --drop-stop-frames drop translated frames with a stop codon\n"
            "      --lenient          pass characters other than ACGTN to a DNA tokenizer as unknown\n"
            "      --skip-invalid     skip empty records instead of failing\n"
            "  -h, --help             this help\n");
}

/* Prints one sequence's ids (stdout errors are checked once at the end). */
static void print_tokens(const char *id, const int32_t *ids, size_t n, void *user) {
    const bool *with_ids = user;
    if (*with_ids) printf("%s\t", id);
    for (size_t i = 0; i < n; ++i) printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
}

static int cmd_tokenize(int argc, char **argv) {
    enum { OPT_TRUNCATE = 256, OPT_SKIP, OPT_TRANSLATE, OPT_DROP_STOP, OPT_LENIENT, OPT_WITH_IDS };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},          {"input", required_argument, NULL, 'i'},
        {"truncate", required_argument, NULL, OPT_TRUNCATE}, {"skip-invalid", no_argument, NULL, OPT_SKIP},
        {"translate", required_argument, NULL, OPT_TRANSLATE}, {"drop-stop-frames", no_argument, NULL, OPT_DROP_STOP},
        {"lenient", no_argument, NULL, OPT_LENIENT},       {"with-ids", no_argument, NULL, OPT_WITH_IDS},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0}};
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return 1;
    int n_inputs = 0, c;
    long v;
    bool with_ids = false;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model_dir = optarg; break;
        case 'i': inputs[n_inputs++] = optarg; break;
        case 'h': usage_tokenize(stdout); free(inputs); return 0;
        case OPT_TRUNCATE: if ((v = parse_int("--truncate", optarg, 0)) < 0) goto usage; o.truncate = (int)v; break;
        case OPT_SKIP: o.skip_invalid = true; break;
        case OPT_TRANSLATE: if (parse_translate(optarg, &o.translate_frames)) goto usage; break;
        case OPT_DROP_STOP: o.drop_stop_frames = true; break;
        case OPT_LENIENT: o.lenient = true; break;
        case OPT_WITH_IDS: with_ids = true; break;
        case '?':
        case ':': bad_option("tokenize", c, argc, argv); goto usage;
        default: goto usage;
        }
    }
    for (int i = optind; i < argc; ++i) inputs[n_inputs++] = argv[i];
    if (!o.model_dir || !n_inputs) {
        fprintf(stderr, "ribo: error: tokenize needs --model and --input (see 'ribo tokenize --help')\n");
        goto usage;
    }
    if (o.drop_stop_frames && !o.translate_frames) {
        fprintf(stderr, "ribo: error: --drop-stop-frames needs --translate 6\n");
        goto usage;
    }
    o.inputs = inputs;
    o.n_inputs = n_inputs;
    ribo_error err = {0};
    ribo_status s = ribo_tokenize(&o, print_tokens, &with_ids, &err);
    free(inputs);
    if (s != RIBO_OK) {
        fprintf(stderr, "ribo: error: %s\n", err.message);
        return 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ribo: error: writing the token ids to stdout failed\n");
        return 1;
    }
    return 0;
usage:
    free(inputs);
    return EXIT_USAGE;
}

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

static int cmd_info(int argc, char **argv) {
    static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
                                             {"max-tokens", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    long max_tokens = RIBO_DEFAULT_MAX_TOKENS;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
        if (c == 'm') dir = optarg;
        else if (c == 't') {
            if ((max_tokens = parse_int("--max-tokens", optarg, 1)) < 0) return EXIT_USAGE;
        } else if (c == 'h') {
            printf("usage: ribo info --model DIR [--max-tokens N]\n\n"
                   "Prints the architecture, shape, parameter count and the device memory needed at a token budget.\n");
            return 0;
        } else {
            if (c == '?' || c == ':') bad_option("info", c, argc, argv);
            return EXIT_USAGE;
        }
    }
    if (!dir && optind < argc) dir = argv[optind];
    if (!dir) {
        fprintf(stderr, "ribo: error: info needs --model DIR\n");
        return EXIT_USAGE;
    }
    ribo_model_info info;
    ribo_error err = {0};
    if (ribo_model_describe(dir, &info, &err) != RIBO_OK) {
        fprintf(stderr, "ribo: error: %s\n", err.message);
        return 1;
    }
    printf("model:            %s\n", dir);
    printf("architecture:     %s\n", info.architecture);
    printf("checkpoint dtype: %s\n", info.weights_dtype);
    printf("layers:           %d\n", info.n_layers);
    printf("hidden size:      %d (%d heads x %d)\n", info.hidden_size, info.n_heads, info.head_dim);
    printf("intermediate:     %d\n", info.intermediate_size);
    printf("vocabulary:       %d\n", info.vocab_size);
    printf("parameters:       %llu (%.1f M)\n", (unsigned long long)info.n_parameters, (double)info.n_parameters / 1e6);
    printf("embedding dim:    %d\n", info.hidden_size);
    printf("--pool none size: %d bytes per token (float32 x %d; 1 M tokens = %.2f GB)\n", 4 * info.hidden_size,
           info.hidden_size, 4.0 * info.hidden_size * 1e6 / 1e9);
    printf("default pooling:  %s (%s)\n", info.default_pool,
           info.pool_includes_specials ? "all tokens, special tokens included" : "residues only, special tokens excluded");
    printf("default truncate: %d %s\n", info.default_max_residues,
           info.dna_model ? "tokens (BPE, specials excluded)" : "residues");
    printf("input:            %s\n", info.dna_model ? "DNA (A, C, G, T, N; lowercase folded)" : "protein (or DNA with --translate 6)");
    printf("device memory at --max-tokens %ld: fp32 %.2f GiB, fp16/bf16 %.2f GiB\n", max_tokens,
           gib(ribo_memory_estimate(&info, RIBO_DTYPE_FP32, (int)max_tokens)),
           gib(ribo_memory_estimate(&info, RIBO_DTYPE_BF16, (int)max_tokens)));
    return 0;
}

/* ribo devices [--backend NAME]: what print_device prints for (only NAME where given) */
typedef struct device_listing {
    const char *backend; /* NULL: every backend */
    int count;           /* devices printed */
    bool backend_seen;   /* NAME is compiled in */
    char note[160];      /* why NAME has no devices */
} device_listing;

static void print_device(const ribo_device_description *d, void *user) {
    device_listing *l = user;
    if (l->backend && strcmp(l->backend, d->backend) != 0) return;
    l->backend_seen = true;
    if (d->index < 0) {
        if (l->backend) snprintf(l->note, sizeof l->note, "%s", d->note);
        else printf("%-8s  (no devices: %s)\n", d->backend, d->note);
        return;
    }
    ++l->count;
    if (d->note[0] && !d->name[0]) printf("%-8s %2d  (%s)\n", d->backend, d->index, d->note);
    else
        printf("%-8s %2d  %s  %.1f GiB  dtypes: fp32%s%s  %s %d  matrix units: %s\n", d->backend, d->index, d->name,
               gib(d->memory_bytes), d->fp16 ? " fp16" : "", d->bf16 ? " bf16" : "",
               strcmp(d->backend, "hip") == 0 ? "wave" : "warp", d->warp_size,
               d->matrix_units[0] ? d->matrix_units : "none");
}

static int cmd_devices(int argc, char **argv) {
    device_listing l = {0};
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ribo devices [--backend NAME]\n\nLists every compiled-in backend and its devices (use with "
                   "--backend/--device);\nwith --backend, only that backend's, and exit status 1 where it has none.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) l.backend = argv[++i];
        else if (!strncmp(argv[i], "--backend=", 10)) l.backend = argv[i] + 10;
        else {
            fprintf(stderr, "ribo devices: unknown argument '%s' (usage: ribo devices [--backend NAME])\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (l.backend && !strcmp(l.backend, "auto")) l.backend = NULL;
    ribo_error err = {0};
    if (ribo_list_devices(print_device, &l, &err) != RIBO_OK) {
        fprintf(stderr, "ribo: error: %s\n", err.message);
        return 1;
    }
    if (l.backend && !l.backend_seen) {
        fprintf(stderr, "ribo: error: backend '%s' is not compiled into this build (see ribo devices)\n", l.backend);
        return 1;
    }
    if (l.backend && l.count == 0) {
        fprintf(stderr, "ribo: error: backend '%s' has no devices: %s\n", l.backend, l.note);
        return 1;
    }
    return l.count > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "embed")) return cmd_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ribo %s\n", RIBO_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage_main(stdout);
        return 0;
    }
    fprintf(stderr, "ribo: error: unknown command '%s' (see 'ribo --help')\n", cmd);
    return EXIT_USAGE;
}
