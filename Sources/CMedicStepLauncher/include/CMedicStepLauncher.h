#ifndef C_MEDIC_STEP_LAUNCHER_H
#define C_MEDIC_STEP_LAUNCHER_H
/* The step launcher: see launcher.c. */

/// The environment variable that turns a re-executed binary linking MedicExecution into the step launcher. Its
/// value is the pid of the Medic process that started the step.
const char *medic_step_launcher_variable(void);

/* The protocol prefix of the variable's value ("2:" then Medic's pid): a launcher of another protocol refuses. */
const char *medic_step_launcher_protocol(void);

/// The signal that orders a launcher to kill its step's whole tree at once, reap it and exit as the step did
/// (Medic's stand-in for SIGKILL, which would kill the launcher and leave the step's orphans to init).
int medic_step_launcher_kill_order(void);

/// The `main` of the `medic-step-launcher` executable: supervises the step, or returns 127 when not called by Medic.
int medic_step_launcher_main(int argc, char **argv);

/// `pidfd_open(2)`: -1 with errno where the kernel has no pidfds.
int medic_pidfd_open(int pid);

#endif
