/* The library's version at run time, so that bindings loading libmmfuse.so can check
 * they were built for it (the header's MMFUSE_VERSION is compiled into the caller). */
#include "mmfuse.h"

const char *mmf_version(void) { return MMFUSE_VERSION; }
