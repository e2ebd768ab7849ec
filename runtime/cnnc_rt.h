/* cnnc_rt.h: what every file of the runtime includes first.
 *
 * The runtime is compiled two ways: as the library cnnc itself links
 * (functions external), and copied into a generated OUT.c as one
 * amalgamation, where the generator defines CNNC_RT_API as `static` before
 * the copied text so that two generated files link into one program. */
#ifndef CNNC_RT_H
#define CNNC_RT_H

#ifndef CNNC_RT_API
#define CNNC_RT_API
#endif

#endif
