// Package logfile is the durable ndjson log writer behind the alert log
// (and the optional event log): one JSON document per line, appended to a
// file that forwarders (Filebeat/Elastic Agent filestream, Fluent Bit tail,
// Vector file, rsyslog imfile) tail and follow across renames. Its
// contract is that a forwarder reads every line exactly once, whole.
//
// How each part of that contract is kept:
//
//   - One line, one write(2), on a descriptor opened with O_APPEND. POSIX
//     write(2): with O_APPEND "the file offset shall be set to the end of
//     the file prior to each write and no intervening file modification
//     operation shall occur between changing the file offset and the write
//     operation": the line lands whole at the end of the file, after
//     everything written before it (linux: the file system's write_iter
//     takes the inode lock, then generic_write_checks_count sets the
//     position to i_size for IOCB_APPEND, fs/read_write.c; xnu: vn_write
//     sets IO_APPEND for O_APPEND regular files and the file system writes
//     under the vnode lock, bsd/vfs/vfs_vnops.c). If the kernel takes only
//     part of a line (a short write, counted in Stats.ShortWrites), the
//     rest is written by the next write(2) calls before anything else.
//   - fsync after each batch (F_FULLFSYNC on darwin, where fsync does not
//     flush the drive's cache), unless Options.NoSync.
//   - Rotation by rename only, never a copy and never a truncation: at
//     MaxSize, Path.Keep is removed, Path.N renamed to Path.N+1, Path to
//     Path.1, and a fresh Path created. Everything written to the old file
//     precedes the rename, so a reader that holds the old file open and,
//     at its end, sees that Path names another file, reads the old one to
//     its end and then opens the next generation, reads every line once.
//     The next generation is Path only if a single rotation happened
//     meanwhile; a reader that finds it by inode among Path.1 … Path.Keep
//     (a forwarder whose glob, alerts.ndjson*, covers the rotated names and
//     that identifies files by inode) loses lines only
//     when it falls more than Keep files (about Keep×MaxSize bytes)
//     behind, and the file it has not opened yet is removed.
//   - A line over MaxLine is refused, never split (the caller cuts long
//     fields first and flags them). An empty line or one holding '\n' is
//     refused too: it would not read back as one line.
//   - A partial last line found at Open (a crash mid-write) is cut off with
//     ftruncate, down to the end of the last complete line: see repair in
//     file.go for why cut rather than terminate, and what a forwarder that
//     already read the fragment may do.
//   - A failing write (ENOSPC, EROFS, EIO, a closed descriptor) does not
//     lose lines: the line and every later one wait, in order, in a queue
//     bounded by QueueBytes, and are written by the next WriteBatch or
//     Retry. A line leaves the queue only once written. When the queue is
//     full the oldest lines are dropped, counted and reported. A line the
//     kernel took only part of before failing is completed in place once
//     the file accepts writes again, so no torn line stays on disk and none
//     is written twice; only if the file changed meanwhile (truncated or
//     replaced behind our back) is the fragment cut off and the line
//     written whole.
//   - A failed fsync is reported and counted, and the lines are not written
//     again: they are in the file already, where a forwarder may have read
//     them; rewriting them would duplicate them.
//   - The daemon runs as root: the path must be a regular file with one
//     link; a symbolic link (checked with lstat, and O_NOFOLLOW against a
//     race), a FIFO, a device or a hard link is refused with ErrUnsafeFile.
//     The file gets Mode (0640) with fchmod whatever the umask; a missing
//     directory is created 0750.
//
// The Writer assumes it is the only writer of Path. It does not notice on
// its own that an external tool renamed the file (it keeps appending to
// the renamed file until Reopen, which the daemon calls on SIGHUP) except
// at rotation time, when it opens Path afresh instead of renaming someone
// else's file.
//
// Sink puts a Writer behind a bounded channel and a goroutine, the way the
// daemon uses it: senders never wait on the disk (a full channel refuses
// and counts), lines already waiting go out in one batch and one fsync,
// queued lines are retried on a timer, Reopen follows an external
// rotation, errors reach a callback once per cause, and Close flushes.
//
// Only sys_unix.go (linux, darwin; the standard library's syscall and os
// packages) makes system calls; everything else is portable and reaches
// them through the fsys interface, which tests wrap to inject failures.
// Other systems get a "not supported" error from Open. The package does
// not log: it returns errors and counters (Stats).
package logfile
