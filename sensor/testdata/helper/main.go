// Command helper is the stand-in process of the end-to-end tests: copied
// under the name "automator" or "com.apple.automator.runner", it plays that
// process's part with real syscalls.
//
//	helper wait                 live until stdin closes
//	helper connect ADDR         connect over TCP to ADDR, then live until stdin closes
//	helper connect-exit ADDR MS connect to ADDR, hold the connection MS milliseconds, exit
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
		fail("usage: helper wait | connect ADDR | connect-exit ADDR MS")
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
