#ifndef C_MEDIC_FUZZ_H
#define C_MEDIC_FUZZ_H
/* Only used by the fuzz build of medic-fuzz (scripts/fuzz.sh): see fuzz_main.c. */
#endif
