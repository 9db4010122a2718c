// The step launcher: the few instructions that must run in a step's leader between fork and exec, which
// swift-subprocess has no hook for on Linux.
//
// SubprocessRunner starts a step as `LAUNCHER PROGRAM ARGV0 ARGS...` with MEDIC_STEP_LAUNCHER_PARENT=<medic pid>
// in its environment. LAUNCHER is the small `medic-step-launcher` executable when it is installed next to the
// running binary (the fast path: a few hundred microseconds), and otherwise `/proc/self/exe`, the running binary
// itself, where the constructor below runs before anything else of it (always there, but loading a large Swift
// binary costs milliseconds per step). Either way, when the launcher finds the variable it:
//
// 1. removes the variable, so the step never sees it;
// 2. asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), then checks that the parent is still
//    the Medic that started it: if Medic died between the fork and the prctl, the signal would never come, so
//    the launcher kills itself instead;
// 3. clears the signal mask and dispositions and execs PROGRAM with ARGV0 ARGS and the remaining environment.
//
// The parent-death signal is tied to the *thread* that forked the child, not the process. swift-subprocess
// spawns every child from one dedicated worker thread that lives until the process exits
// (`runOnBackgroundThread` in its Thread.swift, 1.0.2), so the signal comes when Medic exits or is killed,
// and never because an idle thread went away. The setting survives execve, except into a set-user-ID,
// set-group-ID or file-capability binary (`sudo`), which clears it.
//
// As a constructor inside any binary that links MedicExecution (the `medic` CLI, a library user's server, the
// test runner), the launcher works even where no `medic-step-launcher` file was installed.

#if defined(__linux__)
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#endif

#include "CMedicStepLauncher.h"

#define MEDIC_STEP_LAUNCHER_VARIABLE "MEDIC_STEP_LAUNCHER_PARENT"

const char *medic_step_launcher_variable(void) { return MEDIC_STEP_LAUNCHER_VARIABLE; }

#if defined(__linux__)
extern char **environ;

static void medic_step_launcher_fail(const char *what, const char *detail, int code) {
    dprintf(STDERR_FILENO, "medic: could not start step: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    _exit(code);
}

// Arms the death signal and execs argv[1] with argv[2...]; returns only if `MEDIC_STEP_LAUNCHER_PARENT` is unset.
static void medic_step_launch(int argc, char **argv) {
    const char *value = getenv(MEDIC_STEP_LAUNCHER_VARIABLE);
    if (value == NULL) {
        return;
    }
    char *end = NULL;
    long parent = strtol(value, &end, 10);
    if (end == value || *end != '\0' || parent <= 1) {
        medic_step_launcher_fail("bad " MEDIC_STEP_LAUNCHER_VARIABLE, value, 127);
    }
    unsetenv(MEDIC_STEP_LAUNCHER_VARIABLE);
    if (argv == NULL || argc < 3) {
        medic_step_launcher_fail("launcher called without a program", NULL, 127);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
        medic_step_launcher_fail("prctl(PR_SET_PDEATHSIG)", strerror(errno), 127);
    }
    if (getppid() != (pid_t)parent) {
        // Medic died before the death signal was armed: nobody waits for this step any more.
        kill(getpid(), SIGKILL);
        _exit(137);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo != SIGKILL && signo != SIGSTOP) {
            signal(signo, SIG_DFL);
        }
    }
    execve(argv[1], &argv[2], environ);
    int error = errno;
    medic_step_launcher_fail(argv[1], strerror(error), error == ENOENT ? 127 : 126);
}

// The fallback: any binary linking MedicExecution, re-executed as /proc/self/exe. glibc passes argc, argv and
// envp to constructors of the main program.
__attribute__((constructor(101))) static void medic_step_launcher_constructor(int argc, char **argv, char **envp) {
    (void)envp;
    medic_step_launch(argc, argv);
}
#endif

int medic_set_child_subreaper(void) {
#if defined(__linux__)
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int medic_pidfd_open(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int medic_pidfd_send_signal(int pidfd, int signal) {
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
#else
    (void)pidfd;
    (void)signal;
    errno = ENOSYS;
    return -1;
#endif
}

int medic_step_launcher_main(int argc, char **argv) {
#if defined(__linux__)
    medic_step_launch(argc, argv);
#endif
    (void)argc;
    (void)argv;
    dprintf(STDERR_FILENO, "medic-step-launcher: only Medic starts this, with " MEDIC_STEP_LAUNCHER_VARIABLE " set\n");
    return 127;
}
