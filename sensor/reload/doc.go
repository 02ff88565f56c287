// Package reload tells the daemon when the files it was configured from
// changed on disk: its configuration file, its rule files and folders, its
// exceptions file and the managed-preferences plist that MDM writes. MDM
// cannot send SIGHUP; it writes files.
//
// A Watcher watches, through fsnotify, the folder holding each path (so
// that a file replaced by rename, deleted or created is seen) and each
// path that is a folder (so that its entries are). Changes are coalesced:
// a burst (an editor's or MDM's write, rename, chmod) becomes one Change,
// sent when nothing relevant changed for Options.Quiet, or at the latest
// Options.MaxWait after the burst began. Changes go out on a channel of
// one: when the daemon has not taken the last one yet, the new one merges
// into it, so the Watcher never blocks and no change is lost.
//
// A watched folder that is deleted is re-watched when it is created again
// (its parent's watch sees the creation); a path whose parent does not
// exist yet is looked for every Options.Rearm.
//
// What it is not: a validator. It says that something changed; the daemon
// reloads and validates exactly as on SIGHUP (a broken file keeps what is
// in force). Entries whose names start with "." or end with "~" (editor
// swap and backup files) are ignored.
package reload
