package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"runtime"

	"github.com/macsensor/macsensor/launchd"
)

func init() {
	register("config", "config check [FILE]: validate a configuration and print the effective one", cmdConfig)
}

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: macsensor config check [--state-dir DIR] [--managed PLIST] [FILE]")
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", "", "state folder of a non-macOS or test install (default ./var off macOS)")
	managed := fs.String("managed", "", "managed preferences plist to apply on top (default: the installed one on macOS)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: macsensor config check [--state-dir DIR] [--managed PLIST] [FILE]")
		return 2
	}
	cfg, sources, err := loadEffectiveConfig(*stateDir, fs.Arg(0), *managed, false)
	if err != nil {
		fmt.Fprintln(stderr, "macsensor config:", err)
		return 1
	}
	if len(sources) == 0 {
		sources = []string{"built-in defaults only"}
	}
	fmt.Fprintf(stdout, "# effective configuration (sources, lowest first: built-in defaults")
	for _, s := range sources {
		if s != "built-in defaults only" {
			fmt.Fprintf(stdout, " < %s", s)
		}
	}
	fmt.Fprintln(stdout, ")")
	out, err := encodeConfig(&cfg)
	if err != nil {
		fmt.Fprintln(stderr, "macsensor config:", err)
		return 1
	}
	stdout.Write(out)
	return 0
}

// loadEffectiveConfig reads the managed preferences (macOS default path, or
// managedPath) and the configuration file, in precedence order. daemon
// turns on the root-only ownership checks of the real paths.
func loadEffectiveConfig(stateDir, path, managedPath string, daemon bool) (Config, []string, error) {
	var managed map[string]any
	if managedPath == "" && runtime.GOOS == "darwin" && stateDir == "" {
		managedPath = managedPrefPath
	}
	if managedPath != "" {
		m, err := launchd.ReadPreferences(managedPath, launchd.ReadOptions{SkipOwnerCheck: !daemon})
		switch {
		case err == nil:
			managed = m
		case errors.Is(err, fs.ErrNotExist):
		default:
			return Config{}, nil, err
		}
	}
	return loadConfig(runtime.GOOS, stateDir, path, managed, daemon)
}
