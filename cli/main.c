#include <stdio.h>

#include "ribo/ribo.h"

int main(void) {
    fprintf(stderr, "ribo: command line not built yet\n");
    return 1;
}
