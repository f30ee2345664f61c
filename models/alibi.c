/* ALiBi head slopes, MosaicBERT's _get_alibi_head_slopes in C. */
#include "models/alibi.h"

#include <math.h>

/* Slope i of a power-of-two head count n: start * start^i with start = 2^(-2^-(log2(n) - 3)). */
static double slope_power_of_two(int n, int i) {
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    return start * pow(start, (double)i);
}

void ribo_alibi_slopes(int n_heads, float *slopes) {
    int p = 1;
    while (p * 2 <= n_heads) p *= 2;
    for (int i = 0; i < p; ++i) slopes[i] = (float)slope_power_of_two(p, i);
    /* not a power of two: the rest are slopes 0, 2, 4, ... of the 2p-head set */
    for (int i = 0; i < n_heads - p; ++i) slopes[p + i] = (float)slope_power_of_two(2 * p, 2 * i);
}
