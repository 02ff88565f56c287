package logfile

import (
	"bytes"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// FuzzLastLineEnd checks the repair scan against bytes.LastIndexByte for
// any content, window and read size.
func FuzzLastLineEnd(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, window uint16, chunk uint8) {
		win := int64(window) + 1
		buf := make([]byte, int(chunk)+1)
		end, err := lastLineEnd(bytes.NewReader(data), int64(len(data)), win, buf)
		i := bytes.LastIndexByte(data, '\n')
		switch {
		case i >= 0 && int64(len(data)-i) <= win:
			if err != nil || end != int64(i+1) {
				t.Fatalf("end %d, %v; want %d", end, err, i+1)
			}
		case i < 0 && int64(len(data)) <= win:
			if err != nil || end != 0 {
				t.Fatalf("end %d, %v; want 0", end, err)
			}
		default:
			if !errors.Is(err, ErrUnsafeFile) {
				t.Fatalf("end %d, %v; want the tail refused", end, err)
			}
		}
	})
}

// FuzzWriter runs a script of writes, failures (ENOSPC after some bytes,
// EROFS), short writes, retries and reopens against a small queue and a
// small MaxSize, then checks what a reader finds: every file ends with
// '\n', every line is whole, the sequence numbers only increase (nothing
// twice, nothing out of order), and each line accepted was either written
// or counted as dropped.
func FuzzWriter(f *testing.F) {
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 64 {
			script = script[:64]
		}
		const keep = 100
		path := filepath.Join(t.TempDir(), "alerts.ndjson")
		fs := newFaultFS()
		w, err := open(Options{Path: path, MaxSize: 600, Keep: keep, MaxLine: 200, QueueBytes: 400, NoSync: true}, fs)
		if err != nil {
			t.Fatal(err)
		}
		seq, accepted := 0, 0
		long := bytes.Repeat([]byte{'a'}, 201)
		for _, b := range script {
			arg := int(b >> 3)
			switch b % 8 {
			case 0:
				n := arg%5 + 1
				w.WriteBatch(lines(seq, seq+n))
				seq += n
				accepted += n
			case 1:
				fs.fail(int64(arg*3), syscall.ENOSPC)
			case 2:
				fs.fail(0, syscall.EROFS)
			case 3:
				fs.heal()
			case 4:
				w.Retry()
			case 5:
				w.Reopen()
			case 6:
				fs.setShort(arg % 8)
			case 7:
				w.WriteBatch([][]byte{long, line(seq), {}, []byte("a\nb")})
				seq++
				accepted++
			}
		}
		fs.heal()
		fs.setShort(0)
		w.Close()
		st := w.Stats()
		got := readAll(t, path, keep)
		last := -1
		for _, l := range got {
			s := seqOf(t, l)
			if s <= last {
				t.Fatalf("seq %d after %d", s, last)
			}
			if !bytes.Equal(l, line(s)) {
				t.Fatalf("line %d altered: %q", s, l)
			}
			last = s
		}
		if int64(len(got)) != st.Lines || st.Lines+st.Dropped != int64(accepted) || st.Queued != 0 {
			t.Fatalf("%d lines read, %d accepted, stats %+v", len(got), accepted, st)
		}
	})
}
