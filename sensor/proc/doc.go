// Package proc reads the kernel's process table: a cheap listing taken every
// poll (pid, parent pid, effective uid, start time, the kernel's short name)
// and, once per new process, the expensive part (executable path and argv).
//
// macOS is the product: the listing is sysctl kern.proc.all, the details are
// sysctl kern.procargs2.<pid> and proc_pidpath (the proc_info syscall).
// Linux exists so that the whole pipeline runs live and is tested here: it
// reads /proc with reused buffers, so that a poll allocates nothing once warm.
//
// Only the files that make system calls carry build tags. The decoders of
// kernel bytes (ParseProcargs2, the /proc/<pid>/stat and getdents64 parsers)
// are untagged and tested on Linux with byte fixtures in testdata/.
//
// It is not a process monitor: it does not diff snapshots, cache details or
// derive entity ids (the sensor pipeline does), and it never keeps the
// environment of a process in memory: argv is cut at argc.
package proc
