#ifndef C_MEDIC_STEP_LAUNCHER_H
#define C_MEDIC_STEP_LAUNCHER_H
/* The step launcher: see launcher.c. */

/// The environment variable that turns a re-executed binary linking MedicExecution into the step launcher. Its
/// value is the pid of the Medic process that started the step.
const char *medic_step_launcher_variable(void);

/// The `main` of the `medic-step-launcher` executable: execs the step, or returns 127 when not called by Medic.
int medic_step_launcher_main(int argc, char **argv);

/// Makes the calling process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to it
/// rather than to init. 0 on success, -1 with errno otherwise (and on systems without it).
int medic_set_child_subreaper(void);

/// `pidfd_open(2)`: -1 with errno where the kernel has no pidfds.
int medic_pidfd_open(int pid);

/// `pidfd_send_signal(2)`: reaches exactly the process the descriptor refers to, never a recycled pid.
int medic_pidfd_send_signal(int pidfd, int signal);

#endif
