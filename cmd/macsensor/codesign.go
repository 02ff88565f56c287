package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/macsensor/macsensor/sensor/codesign"
)

func init() {
	register("codesign", "codesign [--arch A] PATH...: print each file's code signature and hash as ECS JSON lines", cmdCodesign)
}

// codesignLine is one output line: the ECS fields Elastic Defend reports
// (code_signature, hash) and, under codesign, what an analyst asks next.
type codesignLine struct {
	Path          string           `json:"path"`
	CodeSignature ecsCodeSignature `json:"code_signature"`
	Hash          *ecsHash         `json:"hash,omitempty"`
	Codesign      codesignDetail   `json:"codesign"`
}

type ecsCodeSignature struct {
	Exists      *bool  `json:"exists,omitempty"`
	Trusted     *bool  `json:"trusted,omitempty"`
	Status      string `json:"status,omitempty"`
	SigningID   string `json:"signing_id,omitempty"`
	TeamID      string `json:"team_id,omitempty"`
	SubjectName string `json:"subject_name,omitempty"`
}

type ecsHash struct {
	SHA256 string `json:"sha256"`
}

type codesignDetail struct {
	Arch         string    `json:"arch,omitempty"`
	CDHash       string    `json:"cdhash,omitempty"`
	HashType     string    `json:"hash_type,omitempty"`
	Flags        string    `json:"flags,omitempty"`
	AdHoc        bool      `json:"adhoc"`
	LinkerSigned bool      `json:"linker_signed"`
	Runtime      bool      `json:"runtime"`
	Policy       string    `json:"policy,omitempty"`
	Authority    []string  `json:"authority,omitempty"`
	SigningTime  time.Time `json:"signing_time,omitzero"`
	Size         int64     `json:"size"`
	Detail       string    `json:"detail,omitempty"`
}

// codesignRecord shapes an Info as the command prints it; the ECS part
// follows the mapping documented on codesign.Info.
func codesignRecord(path string, in codesign.Info) codesignLine {
	l := codesignLine{Path: path}
	cs := &l.CodeSignature
	if in.Checked {
		cs.Exists, cs.Trusted = &in.Exists, &in.Trusted
	}
	if in.Status != codesign.StatusPending {
		cs.Status = in.Status
	}
	cs.SigningID, cs.TeamID, cs.SubjectName = in.SigningID, in.TeamID, in.SubjectName
	if in.SHA256 != "" {
		l.Hash = &ecsHash{SHA256: in.SHA256}
	}
	d := &l.Codesign
	d.Arch, d.CDHash, d.HashType = in.Arch, in.CDHash, in.HashType
	if in.Exists {
		d.Flags = fmt.Sprintf("%#x", in.Flags)
	}
	d.AdHoc, d.LinkerSigned, d.Runtime = in.AdHoc, in.LinkerSigned, in.Runtime
	d.Policy, d.Authority, d.SigningTime = in.Policy, in.Authority, in.SigningTime
	d.Size, d.Detail = in.Size, in.Detail
	return l
}

func cmdCodesign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("codesign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	arch := fs.String("arch", "", "slice of a universal binary to judge: arm64 or x86_64 (default: this machine's)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor codesign [--arch arm64|x86_64] PATH...")
		fmt.Fprintln(stderr, "Prints one JSON object per file: the ECS process.code_signature.* and process.hash.sha256 values")
		fmt.Fprintln(stderr, "Elastic Defend would report for it, and the signature's details. Runs on any OS.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	switch *arch {
	case "", "arm64", "arm64e", "x86_64", "amd64":
	default:
		fmt.Fprintf(stderr, "macsensor codesign: --arch %q: want arm64 or x86_64\n", *arch)
		return 2
	}
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	rc := 0
	for _, p := range fs.Args() {
		in := codesign.VerifyFile(p, codesign.Options{Arch: *arch})
		if !in.Checked {
			fmt.Fprintf(stderr, "macsensor codesign: %s: %s\n", p, in.Detail)
			rc = 1
		}
		if err := enc.Encode(codesignRecord(p, in)); err != nil {
			fmt.Fprintf(stderr, "macsensor codesign: %v\n", err)
			return 1
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "macsensor codesign: %v\n", err)
		return 1
	}
	return rc
}
