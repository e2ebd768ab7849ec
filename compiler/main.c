#include "cnnc.h"
int main(int argc, char **argv) { (void)argc; (void)argv; puts("cnnc " CNNC_VERSION); return 0; }
