package sensor

import "testing"

func TestReadDSLocal(t *testing.T) {
	names := readDSLocal("testdata/dslocal")
	if len(names) != 1 || names[501] != "alice" {
		t.Fatalf("names = %v, want map[501:alice] (broken.plist skipped)", names)
	}
}

func TestParseDSLocalUserErrors(t *testing.T) {
	for _, in := range []string{"", "garbage", `<plist><dict><key>name</key><array><string>x</string></array></dict></plist>`,
		`<plist><dict><key>name</key><array><string>x</string></array><key>uid</key><array><string>-1</string></array></dict></plist>`} {
		if _, _, err := parseDSLocalUser([]byte(in)); err == nil {
			t.Errorf("parseDSLocalUser(%q): no error", in)
		}
	}
}
