// Command macsensor is the macOS endpoint sensor: it polls the kernel for
// process starts and network sockets, normalizes them to ECS events, runs EQL
// rules on the host and appends alerts to a local ndjson log.
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Println("macsensor", version)
		return 0
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(os.Stderr, "macsensor: unknown command %q\n", args[0])
	usage()
	return 2
}

var version = "0.1.0-dev"

func usage() {
	fmt.Fprint(os.Stderr, `usage: macsensor <command> [flags]

commands:
  version   print the version
`)
}
