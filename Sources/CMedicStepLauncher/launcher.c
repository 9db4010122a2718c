// The step launcher: a tiny supervisor between Medic and each step. swift-subprocess has no hook to run code
// between fork and exec on Linux, and what must happen when a step or Medic ends needs a process that outlives
// the step and is not Medic.
//
// SubprocessRunner starts a step as `LAUNCHER PROGRAM ARGV0 ARGS...` in a new session, with
// MEDIC_STEP_LAUNCHER_PARENT=<medic pid> in its environment, so the launcher leads a session and a process group
// (L) of its own. LAUNCHER is the small `medic-step-launcher` executable when it is installed next to the running
// binary (the fast path), and otherwise `/proc/self/exe`, the running binary itself, where the constructor below
// runs before anything else of it (always there, but loading a large Swift binary costs milliseconds per step).
// Either way, when the launcher finds the variable it:
//
// 1. removes the variable, so the step never sees it;
// 2. becomes a child subreaper (PR_SET_CHILD_SUBREAPER): whatever the step orphans (a background child whose
//    shell exited, a `setsid` or double-forked daemon) is reparented to the launcher, the nearest subreaper, and
//    neither to init nor to Medic;
// 3. asks for SIGUSR1 when Medic dies (PR_SET_PDEATHSIG), then checks that its parent is still the Medic that
//    started it: if Medic died before the prctl, the signal would never come, so the launcher starts nothing;
// 4. forks the step. The child leads a process group of its own (S, its pid), asks for SIGKILL should the launcher
//    itself die, clears its signal mask and dispositions and execs PROGRAM with ARGV0 ARGS and the remaining
//    environment. It inherits stdin, stdout and stderr; the launcher keeps only its own 0, 1 and 2, which close
//    when it exits, right after the step and the sweep below;
// 5. waits, with SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and SIGCHLD blocked and taken by sigwaitinfo:
//    - SIGTERM, SIGINT and SIGHUP are forwarded to group S: Medic's graceful stop reaches the step once;
//    - SIGUSR2 is Medic's order to kill the step now. Medic must not SIGKILL the launcher instead: the step's
//      orphans would then go to init, and nothing would be left to kill them;
//    - SIGUSR1 with a parent other than Medic means Medic died. (With Medic still the parent, it came from the
//      exit of the Medic thread that spawned the launcher, which the kernel also reports; it is ignored.)
//    - SIGCHLD: an orphan that exited is reaped; the step's exit ends the wait (seen with WNOWAIT, not reaped);
// 6. sweeps: SIGKILL to group S (the step is not reaped yet, so S is still its group's id and no one else's),
//    then, round after round, SIGKILL to every child of its own and reaping, until it has no child left. A dying
//    process's children are reparented before it becomes a zombie, so each round finds the next generation of
//    what left group S. The sweep ends early when every child left refuses SIGKILL (a set-user-ID program of
//    another user) and gives up after MEDIC_STEP_LAUNCHER_SWEEP_SECONDS (a process stuck in the kernel);
// 7. exits as the step did: the same exit code, or the same signal raised on itself (core dumps disabled).
//
// The step has a group of its own, not the launcher's, so that the launcher can SIGKILL it without killing
// itself, and a step's `kill 0` (`trap 'kill 0' EXIT`) or `kill -STOP 0` never reaches the launcher.
//
// What the launcher cannot do: kill a process that runs as another user (a set-user-ID program such as `sudo`,
// when Medic is not root); survive SIGKILL (then only the step's leader dies with it, by its death signal); see
// processes that are not the step's descendants (a daemon started through `systemd-run` or a service manager).
//
// As a constructor inside any binary that links MedicExecution (the `medic` CLI, a library user's server, the
// test runner), the launcher works even where no `medic-step-launcher` file was installed.

#if defined(__linux__)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#else
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#endif

#include "CMedicStepLauncher.h"

#define MEDIC_STEP_LAUNCHER_VARIABLE "MEDIC_STEP_LAUNCHER_PARENT"
#define MEDIC_STEP_LAUNCHER_DEATH_SIGNAL SIGUSR1
#define MEDIC_STEP_LAUNCHER_KILL_ORDER SIGUSR2
#define MEDIC_STEP_LAUNCHER_SWEEP_SECONDS 5
#define MEDIC_STEP_LAUNCHER_MAX_CHILDREN 4096

const char *medic_step_launcher_variable(void) { return MEDIC_STEP_LAUNCHER_VARIABLE; }

// Version 2 supervises the step (version 1, which exec'd it, read a bare pid and so refuses "2:<pid>" loudly
// rather than run a step unsupervised).
#define MEDIC_STEP_LAUNCHER_PROTOCOL "2:"

const char *medic_step_launcher_protocol(void) { return MEDIC_STEP_LAUNCHER_PROTOCOL; }

int medic_step_launcher_kill_order(void) { return MEDIC_STEP_LAUNCHER_KILL_ORDER; }

#if defined(__linux__)
extern char **environ;

static void medic_step_launcher_fail(const char *what, const char *detail, int code) {
    dprintf(STDERR_FILENO, "medic: could not start step: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    _exit(code);
}

// The child: joins a group of its own, dies with the launcher, execs the step.
static void medic_step_exec(char **argv, pid_t launcher) {
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != launcher) {
        _exit(137);
    }
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo != SIGKILL && signo != SIGSTOP) {
            signal(signo, SIG_DFL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[1], &argv[2], environ);
    int error = errno;
    medic_step_launcher_fail(argv[1], strerror(error), error == ENOENT ? 127 : 126);
}

// Reads up to `capacity` pids of the launcher's children; -1 when neither the kernel's list
// (/proc/PID/task/PID/children, which needs CONFIG_PROC_CHILDREN) nor a scan of /proc is possible. The launcher is
// single-threaded, so its main thread's list is all of its children.
static int medic_step_children(pid_t self, pid_t *pids, int capacity) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)self, (int)self);
    int descriptor = open(path, O_RDONLY | O_CLOEXEC);
    int count = 0;
    if (descriptor >= 0) {
        static char text[64 * 1024];
        size_t used = 0;
        ssize_t got;
        while (used < sizeof text - 1 && (got = read(descriptor, text + used, sizeof text - 1 - used)) > 0) {
            used += (size_t)got;
        }
        close(descriptor);
        text[used] = '\0';
        for (char *cursor = text; *cursor != '\0' && count < capacity;) {
            char *end = NULL;
            long pid = strtol(cursor, &end, 10);
            if (end == cursor) {
                break;
            }
            pids[count++] = (pid_t)pid;
            cursor = end;
        }
        return count;
    }
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL && count < capacity) {
        char *end = NULL;
        long pid = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0') {
            continue;
        }
        char stat[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int file = open(path, O_RDONLY | O_CLOEXEC);
        if (file < 0) {
            continue;
        }
        ssize_t length = read(file, stat, sizeof stat - 1);
        close(file);
        if (length <= 0) {
            continue;
        }
        stat[length] = '\0';
        // After the command: state ppid ...
        char *close_paren = strrchr(stat, ')');
        char state;
        long parent;
        if (close_paren != NULL && sscanf(close_paren + 1, " %c %ld", &state, &parent) == 2 && parent == self) {
            pids[count++] = (pid_t)pid;
        }
    }
    closedir(proc);
    return count;
}

static double medic_step_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

// Ends the launcher as the step ended: `status` as from waitpid, or -1 when the step could not be reaped (reported
// as SIGKILL, which is what it was sent).
static void medic_step_exit_as(int status) {
    if (status != -1 && WIFEXITED(status)) {
        _exit(WEXITSTATUS(status));
    }
    int signo = status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(signo, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signo);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    kill(getpid(), signo);
    _exit(128 + signo);
}

// Step 6 and 7 above: kills the step's group and everything reparented to the launcher, reaps it all, exits.
static void medic_step_sweep(pid_t self, pid_t step) {
    // Not reaped yet (nothing before this reaps it): the group id is still the step's.
    kill(-step, SIGKILL);
    sigset_t children_changed;
    sigemptyset(&children_changed);
    sigaddset(&children_changed, SIGCHLD);
    static pid_t children[MEDIC_STEP_LAUNCHER_MAX_CHILDREN];
    double deadline = medic_step_now() + MEDIC_STEP_LAUNCHER_SWEEP_SECONDS;
    int step_status = -1;
    for (;;) {
        int status = 0;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped == step) {
                step_status = status;
            }
        }
        if (reaped < 0 && errno == ECHILD) {
            break;
        }
        if (medic_step_now() >= deadline) {
            break;
        }
        int count = medic_step_children(self, children, MEDIC_STEP_LAUNCHER_MAX_CHILDREN);
        if (count < 0) {
            // No /proc: the launcher cannot name its children, so it cannot kill them either.
            break;
        }
        int refused = 0;
        for (int index = 0; index < count; index++) {
            if (kill(children[index], SIGKILL) != 0 && errno == EPERM) {
                refused++;
            }
        }
        if (count > 0 && refused == count) {
            // Only processes of another user are left (a set-user-ID program): waiting cannot help.
            break;
        }
        struct timespec slice = {0, 10 * 1000 * 1000};
        sigtimedwait(&children_changed, NULL, &slice);
    }
    medic_step_exit_as(step_status);
}

// Arms the launcher and runs the step under it; returns only if `MEDIC_STEP_LAUNCHER_PARENT` is unset.
static void medic_step_launch(int argc, char **argv) {
    const char *value = getenv(MEDIC_STEP_LAUNCHER_VARIABLE);
    if (value == NULL) {
        return;
    }
    if (strncmp(value, MEDIC_STEP_LAUNCHER_PROTOCOL, strlen(MEDIC_STEP_LAUNCHER_PROTOCOL)) != 0) {
        medic_step_launcher_fail("this launcher does not speak the protocol Medic asked for "
                                 "(install the medic-step-launcher built with this medic)",
                                 value, 127);
    }
    const char *pid = value + strlen(MEDIC_STEP_LAUNCHER_PROTOCOL);
    char *end = NULL;
    long parent = strtol(pid, &end, 10);
    // Medic may be PID 1 (in a container); when PID 1 dies the kernel ends the whole namespace anyway.
    if (end == pid || *end != '\0' || parent < 1) {
        medic_step_launcher_fail("bad " MEDIC_STEP_LAUNCHER_VARIABLE, value, 127);
    }
    unsetenv(MEDIC_STEP_LAUNCHER_VARIABLE);
    if (argv == NULL || argc < 3) {
        medic_step_launcher_fail("launcher called without a program", NULL, 127);
    }
    // Blocked before anything can send them, and at their default disposition: an ignored signal is discarded
    // rather than left pending (and an ignored SIGCHLD would reap children behind the launcher's back).
    const int taken[] = {SIGTERM, SIGINT, SIGHUP, MEDIC_STEP_LAUNCHER_DEATH_SIGNAL, MEDIC_STEP_LAUNCHER_KILL_ORDER,
                         SIGCHLD};
    sigset_t waited;
    sigemptyset(&waited);
    for (size_t index = 0; index < sizeof taken / sizeof taken[0]; index++) {
        sigaddset(&waited, taken[index]);
    }
    sigprocmask(SIG_BLOCK, &waited, NULL);
    for (size_t index = 0; index < sizeof taken / sizeof taken[0]; index++) {
        signal(taken[index], SIG_DFL);
    }
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        medic_step_launcher_fail("prctl(PR_SET_CHILD_SUBREAPER)", strerror(errno), 127);
    }
    if (prctl(PR_SET_PDEATHSIG, MEDIC_STEP_LAUNCHER_DEATH_SIGNAL, 0, 0, 0) != 0) {
        medic_step_launcher_fail("prctl(PR_SET_PDEATHSIG)", strerror(errno), 127);
    }
    if (getppid() != (pid_t)parent) {
        // Medic died before the death signal was armed: nobody waits for this step any more.
        _exit(137);
    }
    pid_t self = getpid();
    pid_t step = fork();
    if (step < 0) {
        medic_step_launcher_fail("fork", strerror(errno), 127);
    }
    if (step == 0) {
        medic_step_exec(argv, self);
    }
    // Also here, so that the group exists before the first signal to it (EACCES once the child has exec'd).
    setpgid(step, step);
    for (;;) {
        // Reap orphans that exited on their own; notice the step's exit without reaping it.
        int step_exited = 0;
        for (;;) {
            siginfo_t info;
            memset(&info, 0, sizeof info);
            if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
                break;
            }
            if (info.si_pid == step) {
                step_exited = 1;
                break;
            }
            waitpid(info.si_pid, NULL, 0);
        }
        if (step_exited) {
            break;
        }
        siginfo_t info;
        int signo = sigwaitinfo(&waited, &info);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            // The step is not reaped: its group id is still its own. A step that stopped itself would never
            // see the graceful signal; continue it so that it does.
            kill(-step, signo);
            kill(-step, SIGCONT);
        } else if (signo == MEDIC_STEP_LAUNCHER_KILL_ORDER) {
            break;
        } else if (signo == MEDIC_STEP_LAUNCHER_DEATH_SIGNAL && getppid() != (pid_t)parent) {
            break;
        }
        // SIGCHLD, EINTR, a death signal from a thread's exit: look at the children again.
    }
    medic_step_sweep(self, step);
}

// The fallback: any binary linking MedicExecution, re-executed as /proc/self/exe. glibc passes argc, argv and
// envp to constructors of the main program; other C libraries (musl) pass nothing, so there the fallback is
// off and only the `medic-step-launcher` executable launches steps.
#if defined(__GLIBC__)
// Signals are blocked per thread: the launcher's waits are only sound while it is the process's only thread.
// A library constructor that started a thread before this one would break that, so refuse rather than run a
// step whose signals might go astray.
static int medic_step_launcher_threads(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) {
        return -1;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] != '.') {
            count++;
        }
    }
    closedir(tasks);
    return count;
}

__attribute__((constructor(101))) static void medic_step_launcher_constructor(int argc, char **argv, char **envp) {
    (void)envp;
    if (getenv(MEDIC_STEP_LAUNCHER_VARIABLE) != NULL && medic_step_launcher_threads() > 1) {
        medic_step_launcher_fail(
            "the /proc/self/exe launcher found more than one thread at start",
            "install medic-step-launcher next to the binary", 127);
    }
    medic_step_launch(argc, argv);
}
#endif
#endif

int medic_pidfd_open(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
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
