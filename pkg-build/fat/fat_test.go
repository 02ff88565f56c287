package fat

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"strings"
	"testing"
)

// thin returns a minimal 64-bit Mach-O executable header for cpu: no load
// commands, padded with filler bytes so slices have distinct contents.
func thin(cpu macho.Cpu, subcpu uint32, filler byte, n int) []byte {
	b := make([]byte, 32+n)
	le := binary.LittleEndian
	le.PutUint32(b[0:], macho.Magic64)
	le.PutUint32(b[4:], uint32(cpu))
	le.PutUint32(b[8:], subcpu)
	le.PutUint32(b[12:], uint32(macho.TypeExec))
	for i := 32; i < len(b); i++ {
		b[i] = filler
	}
	return b
}

func TestBuild(t *testing.T) {
	arm := thin(macho.CpuArm64, 0, 0xaa, 100)
	amd := thin(macho.CpuAmd64, 3, 0xbb, 20000)
	out, err := Build(arm, amd) // order of the arguments does not matter
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if be.Uint32(out) != 0xcafebabe || be.Uint32(out[4:]) != 2 {
		t.Fatalf("header % x", out[:8])
	}
	type arch struct{ cpu, sub, off, size, align uint32 }
	var got []arch
	for i := range 2 {
		a := out[8+20*i:]
		got = append(got, arch{be.Uint32(a), be.Uint32(a[4:]), be.Uint32(a[8:]), be.Uint32(a[12:]), be.Uint32(a[16:])})
	}
	want := []arch{
		{uint32(macho.CpuAmd64), 3, 16384, 20032, 14},
		{uint32(macho.CpuArm64), 0, 16384 * 3, 132, 14}, // 16384+20032 rounds up to 49152
	}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("fat_arch %+v, want %+v", got, want)
	}
	if !bytes.Equal(out[16384:16384+len(amd)], amd) || !bytes.Equal(out[49152:], arm) {
		t.Error("slices not at their offsets")
	}
	if !bytes.Equal(out[48:16384], make([]byte, 16384-48)) {
		t.Error("padding is not zero")
	}
	if err := Check(out, macho.CpuAmd64, macho.CpuArm64); err != nil {
		t.Error(err)
	}
	if err := Check(out, macho.CpuArm64); err == nil {
		t.Error("Check accepted an extra slice")
	}
	ff, err := macho.NewFatFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if ff.Arches[0].Cpu != macho.CpuAmd64 || ff.Arches[1].Cpu != macho.CpuArm64 {
		t.Errorf("debug/macho reads %v, %v", ff.Arches[0].Cpu, ff.Arches[1].Cpu)
	}
	again, _ := Build(amd, arm)
	if !bytes.Equal(again, out) {
		t.Error("not deterministic")
	}
}

func TestBuildRejects(t *testing.T) {
	arm := thin(macho.CpuArm64, 0, 0, 0)
	fatBin, _ := Build(arm)
	for name, tc := range map[string]struct {
		in   [][]byte
		want string
	}{
		"none":      {nil, "fat: no slices"},
		"duplicate": {[][]byte{arm, arm}, "fat: two slices for CpuArm64"},
		"garbage":   {[][]byte{[]byte("#!/bin/sh\n")}, "fat: slice 0: "},
		"fat-input": {[][]byte{fatBin}, "fat: slice 0: "},
	} {
		_, err := Build(tc.in...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want prefix %q", name, err, tc.want)
		}
	}
	if err := Check(arm, macho.CpuArm64); err == nil {
		t.Error("Check accepted a thin binary")
	}
}

func TestMinMacOS(t *testing.T) {
	withBuildVersion := func(cpu macho.Cpu, minos uint32) []byte {
		b := thin(cpu, 0, 0, 24)
		le := binary.LittleEndian
		le.PutUint32(b[16:], 1)  // ncmds
		le.PutUint32(b[20:], 24) // sizeofcmds
		lc := b[32:]
		le.PutUint32(lc[0:], 0x32) // LC_BUILD_VERSION
		le.PutUint32(lc[4:], 24)
		le.PutUint32(lc[8:], 1) // PLATFORM_MACOS
		le.PutUint32(lc[12:], minos)
		le.PutUint32(lc[16:], minos) // sdk
		le.PutUint32(lc[20:], 0)     // ntools
		return b
	}
	u, err := Build(withBuildVersion(macho.CpuArm64, 12<<16), withBuildVersion(macho.CpuAmd64, 11<<16|3<<8|1))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := MinMacOS(u); v != "12.0" || !ok || err != nil {
		t.Errorf("universal: %q %v %v", v, ok, err)
	}
	if v, ok, err := MinMacOS(withBuildVersion(macho.CpuAmd64, 11<<16|3<<8|1)); v != "11.3.1" || !ok || err != nil {
		t.Errorf("thin: %q %v %v", v, ok, err)
	}
	if _, ok, err := MinMacOS(thin(macho.CpuArm64, 0, 0, 0)); ok || err != nil {
		t.Errorf("no LC_BUILD_VERSION: ok=%v err=%v", ok, err)
	}
	if _, _, err := MinMacOS([]byte("not mach-o")); err == nil {
		t.Error("garbage accepted")
	}
}
