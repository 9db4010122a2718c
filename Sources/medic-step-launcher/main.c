// The fast step launcher installed next to `medic`: see Sources/CMedicStepLauncher/launcher.c.
#include "CMedicStepLauncher.h"

int main(int argc, char **argv) { return medic_step_launcher_main(argc, argv); }
