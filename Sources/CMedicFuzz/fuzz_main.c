#include "CMedicFuzz.h"

#ifdef MEDIC_FUZZ
#include <stddef.h>
#include <stdint.h>

/* SwiftPM links an executable target with `main` aliased to `<module>_main`; in the fuzz build there is no
   Swift @main, so this hands the process to libFuzzer's driver with the Swift entry point. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int medic_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
#endif
