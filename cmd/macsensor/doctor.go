package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/macsensor/macsensor/internal/doctor"
)

func init() {
	register("doctor", "check every source live on this host; --bundle packs the raw buffers for the maintainers", cmdDoctor)
}

// cmdDoctor runs the live checks (internal/doctor). `doctor child ...` is
// the client mode of the doctor's own children (copies of this binary).
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "child" {
		return doctor.RunChild(args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	bundle := fs.String("bundle", "", "also write the raw buffers and the report to this .tar.gz (mode 0600)")
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "bound on the whole run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor doctor [--json] [--bundle FILE.tar.gz] [--timeout 30s]")
		fmt.Fprintln(stderr, "Runs live checks of every source on this host (see docs/DOCTOR.md). Run it with sudo:")
		fmt.Fprintln(stderr, "checks that need root are skipped otherwise. Exit status 0 when every check that applies passes.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "macsensor doctor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "macsensor doctor: --timeout must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := doctor.Run(ctx, doctor.Options{
		Version:      version,
		Timeout:      *timeout,
		CheckTimeout: min(doctor.DefaultCheckTimeout, *timeout),
		Layout: doctor.Layout{
			Label:      "com.macsensor.daemon",
			Plist:      "/Library/LaunchDaemons/com.macsensor.daemon.plist",
			Binary:     macPrefix + "/bin/macsensor",
			Config:     macConfigPath,
			RulesDir:   macRulesDir,
			AlertLog:   macLogDir + "/alerts.ndjson",
			StatusPath: macStatusPath,
		},
	})
	rep := d.Report()
	if *asJSON {
		rep.WriteJSON(stdout)
	} else {
		rep.WriteTable(stdout)
	}
	code := 0
	if !rep.Summary.OK {
		code = 1
	}
	if *bundle != "" {
		t0 := time.Now()
		if err := d.WriteBundle(*bundle); err != nil {
			fmt.Fprintf(stderr, "macsensor doctor: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "macsensor doctor: bundle written to %s (mode 0600, %s); send it as docs/INSTALL.md says\n",
			*bundle, time.Since(t0).Round(time.Millisecond))
	}
	return code
}
