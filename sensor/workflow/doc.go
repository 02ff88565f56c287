// Package workflow reads the Automator workflow behind an alert: it finds
// the workflow a process ran from its arguments (Locate), reads the
// workflow's Contents/document.wflow from disk (Read), and lists its
// actions, with the source of every script action (Run Shell Script, Run
// AppleScript, Run JavaScript), ready to be attached to the alert as the
// macsensor.workflow object (Workflow.AppendJSON).
//
// The document format is Automator's XML property list, as Automator writes
// it (AMDocumentVersion 2): a dict whose "actions" array holds one dict per
// action, each with an "action" dict carrying BundleIdentifier, ActionName
// and ActionParameters (COMMAND_STRING and shell for Run Shell Script,
// source for Run AppleScript and Run JavaScript). Older documents name the
// same things AMBundleIdentifier, AMName and AMParameters; both are read.
//
// The document is untrusted input written by whoever wrote the workflow.
// It is opened without following links out of its bundle, must be a
// regular file with one link, is read up to a size cap, must be an XML or
// binary plist whose nesting stays under a depth cap (the plist decoder
// recurses; checked first by scans that do not), and every string
// that reaches the alert is cut at a documented size. Whatever goes wrong
// becomes the Error field of the result: an alert never waits for, or is
// lost to, a workflow that cannot be read.
//
// What it is not: it does not run or validate a workflow, does not follow
// actions that call other workflows, and reads the document as it is on
// disk at alert time, which may differ from what ran (the hash says which
// bytes were read).
package workflow
