// Command lifetime measures how likely the sensor is to see a short-lived
// process's connection, against the process's lifetime, with polling alone
// and with the packet capture's connection trigger (issue 6), and how likely
// it is to report a short-lived process's exec with its exact args and
// parent, with polling alone and with process events (issue 10, exec.go:
// -modes exec), and draws the result.
//
//	lifetime measure [flags]   run the measurement (Linux, root), write a CSV
//	lifetime plot [flags]      draw the CSV as a PNG and print its summary
//
// measure runs the real Linux collectors in-process (sensor.New over
// proc.Open and socket.Open, sensor.LoopWith, and capture.Open on lo for
// the trigger) and starts, for every lifetime L, copies of
// sensor/testdata/helper that connect once to a loopback listener, hold
// the connection L ms and exit. A run counts as captured when the pipeline
// emitted the helper's connection_attempted event under the helper's
// process name. Helpers run concurrently, each after a random delay of up
// to one poll interval, so their start phases against the poll ticks are
// uniform. It holds the lock file of the end-to-end tests of cmd/macsensor
// during each mode, so that their daemons and these helpers do not see
// each other.
//
// plot reads that CSV, writes the PNG (pure Go: image/png and a 5x7 bitmap
// font of its own) and prints, per mode, the lifetime from which capture
// reaches 99 %.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "measure":
		err = measureCmd(os.Args[2:])
	case "plot":
		err = plotCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifetime:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lifetime measure [-out FILE] [flags] | lifetime plot [-in FILE] [-out FILE.png]")
	os.Exit(2)
}
