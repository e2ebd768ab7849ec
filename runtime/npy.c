/* npy.c: stub */
int cnnc_npy_stub;
