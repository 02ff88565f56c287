// Package rootfile reads the files a root daemon takes orders from
// (configuration, rules, exceptions, managed preferences) only when root
// alone could have written them, and reads the very file it checked.
//
// A check on a path followed by a read of the path looks at two files to an
// attacker who can rename between them. Read opens the path once, with
// O_NOFOLLOW (a symbolic link as the last element is refused by the kernel,
// ELOOP), checks owner, mode and type on the open descriptor (fstat), and
// reads from that descriptor, with a size limit. ReadPath does the same for
// a folder of rule files: the folder is opened and checked, and its entries
// are opened relative to the checked descriptor (openat with O_NOFOLLOW),
// so a folder swapped for another, or an entry swapped for a symbolic link,
// after the check is not followed.
//
// What it checks: a regular file (a folder for ReadPath's folders), owned
// by uid 0 unless Options.AnyOwner, not writable by group or others. What
// it does not check: the folders above the path (the installed paths sit in
// root-owned /Library and /etc), ACLs, and file flags.
//
// Only open_unix.go makes system calls; other systems get a "not supported"
// error. The package does not log.
package rootfile
