// Command helper is the stand-in process of the end-to-end tests: copied
// under the name "automator" or "com.apple.automator.runner", it plays that
// process's part with real syscalls.
//
//	helper wait                 live until stdin closes
//	helper connect ADDR         connect over TCP to ADDR, then live until stdin closes
//	helper connect-exit ADDR MS connect to ADDR, hold the connection MS milliseconds, exit
//	helper live MS [ARG...]     live MS milliseconds (MS may be fractional), exit; the
//	                            ARGs only mark the process (process-event tests)
//	helper spawn MS BIN [ARG...] start BIN with ARGs (argv[0] BIN), print its pid, live
//	                            MS more milliseconds and exit without waiting for it;
//	                            $HELPER_SPAWN_AFTER_MS delays the start
//
// It prints "ready" on stdout once its part is done, so a test can wait for
// it without sleeping.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: helper wait | connect ADDR | connect-exit ADDR MS | live MS [ARG...]")
	}
	switch os.Args[1] {
	case "wait":
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
	case "connect":
		if len(os.Args) != 3 {
			fail("usage: helper connect ADDR")
		}
		c := dial(os.Args[2])
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		c.Close()
	case "connect-exit":
		if len(os.Args) != 4 {
			fail("usage: helper connect-exit ADDR MS")
		}
		ms, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fail(err.Error())
		}
		c := dial(os.Args[2])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		c.Close()
	case "live":
		if len(os.Args) < 3 {
			fail("usage: helper live MS [ARG...]")
		}
		ms, err := strconv.ParseFloat(os.Args[2], 64)
		if err != nil {
			fail(err.Error())
		}
		time.Sleep(time.Duration(ms * float64(time.Millisecond)))
	case "spawn":
		if len(os.Args) < 4 {
			fail("usage: helper spawn MS BIN [ARG...]")
		}
		ms, err := strconv.ParseFloat(os.Args[2], 64)
		if err != nil {
			fail(err.Error())
		}
		if pre, err := strconv.ParseFloat(os.Getenv("HELPER_SPAWN_AFTER_MS"), 64); err == nil {
			time.Sleep(time.Duration(pre * float64(time.Millisecond)))
		}
		p, err := os.StartProcess(os.Args[3], os.Args[3:], &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
		if err != nil {
			fail(err.Error())
		}
		time.Sleep(time.Duration(ms * float64(time.Millisecond)))
		fmt.Println(p.Pid)
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func dial(addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	if _, err := c.Write([]byte{1}); err != nil {
		fail(err.Error())
	}
	return c
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "helper:", msg)
	os.Exit(2)
}
