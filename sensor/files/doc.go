// Package files turns changes in a bounded list of folders into ECS file
// events shaped like Elastic Defend's macOS file events: the persistence
// locations of macOS (LaunchAgents, LaunchDaemons, StartupItems, Services,
// periodic, emond, cron tabs, authorization and Directory Services
// plug-ins), off by default.
//
// A Watcher watches each folder's direct entries through fsnotify (kqueue
// on macOS, inotify on Linux) and emits, per entry, event.category
// ["file"] with event.type creation, change or deletion and event.action
// modification, rename or deletion, file.path (symbolic links in the
// watched folder's own path resolved, as Endpoint Security reports them:
// /private/etc/periodic/daily/...), file.name, file.extension,
// file.directory, file.size, file.inode and file.Ext.header_bytes (the
// first 16 bytes, lower-case hex). A burst of operations on one entry
// (create, write, write, chmod) within the settle time is one event.
//
// What it is not: Endpoint Security. Nothing says which process changed a
// file, so process.* and user.* stay empty; an entry's own contents are not
// watched (a .workflow bundle in ~/Library/Services is one entry); and a
// change that is undone within the settle time may be reported as its
// last state only.
//
// Descriptors: kqueue opens one descriptor per watched folder and one per
// entry in it (fsnotify's kqueue backend watches every entry to report
// writes), so the cost of a folder is 1 + its entries. The Watcher adds
// folders while the total stays under Options.MaxDescriptors, counts the
// folders it leaves out, re-counts at every rescan (files created since
// cost one each) and drops the last-added folders when the total has grown
// over the cap. On inotify a folder costs one watch whatever it holds.
//
// A path ending in "/*" is a folder and its subfolders, one level down, as
// they come and go (/etc/periodic/*: daily, weekly, monthly;
// /Library/StartupItems/*: each item's folder and the
// StartupParameters.plist in it).
//
// Folders that do not exist, or are deleted, are looked for again at every
// rescan; the entries of a folder that appears are reported as created.
package files
