/* ALiBi head slopes (Press et al.; as MosaicBERT / DNABERT-2 compute them). */
#ifndef RIBO_MODELS_ALIBI_H
#define RIBO_MODELS_ALIBI_H

/* slopes[h] for n_heads heads: for a power of two n, start^(h+1) with start = 2^(-8/n); otherwise
 * the slopes of the nearest lower power of two p followed by every other slope of 2p, (n - p) of
 * them. Computed in double, rounded to float. */
void ribo_alibi_slopes(int n_heads, float *slopes);

#endif
