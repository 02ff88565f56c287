package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The children are copies of the running binary in a client mode: no
// external program runs. They get an empty environment and nothing secret
// on their command line; they live until their stdin closes (the doctor
// closes it, or dies), so none outlives the run.

// RunChild is the client mode of the doctor's children; args are what
// follows Options.ChildArgs:
//
//	hold <nonce>            print "ready", wait for stdin to close
//	connect <ip:port>       connect to the address, print "ready <local ip:port>",
//	                        wait for stdin to close, then close the connection
//
// It returns the process exit code.
func RunChild(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "macsensor doctor child: usage: hold <nonce> | connect <ip:port>")
		return 2
	}
	switch args[0] {
	case "hold":
		fmt.Fprintln(stdout, "ready")
		io.Copy(io.Discard, stdin)
		return 0
	case "connect":
		c, err := net.DialTimeout("tcp", args[1], 5*time.Second)
		if err != nil {
			fmt.Fprintln(stderr, "macsensor doctor child:", err)
			return 1
		}
		defer c.Close()
		fmt.Fprintln(stdout, "ready", c.LocalAddr().String())
		io.Copy(io.Discard, stdin)
		return 0
	}
	fmt.Fprintf(stderr, "macsensor doctor child: unknown mode %q\n", args[0])
	return 2
}

// child is a running child.
type child struct {
	cmd   *exec.Cmd
	pid   int32
	stdin io.WriteCloser
	ready string // what followed "ready" on its first line
	start time.Time
	done  chan struct{}
	once  sync.Once
}

// spawn starts path with the child mode's args and waits, within ctx, for
// its "ready" line.
func (d *Doctor) spawn(ctx context.Context, path string, mode ...string) (*child, error) {
	args := append(append([]string{}, d.opt.ChildArgs...), mode...)
	cmd := exec.Command(path, args...)
	cmd.Env = []string{} // never the doctor's environment
	cmd.Dir = d.work
	setChildAttr(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{}), start: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.pid = int32(cmd.Process.Pid)
	d.mu.Lock()
	d.children = append(d.children, c)
	d.mu.Unlock()
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
		cmd.Wait()
		close(c.done)
	}()
	select {
	case l := <-line:
		l = strings.TrimSpace(l)
		if l != "ready" && !strings.HasPrefix(l, "ready ") {
			<-c.done
			return c, fmt.Errorf("child %s exited before it was ready: %s", path, strings.TrimSpace(cmd.Stderr.(*lockedWriter).String()))
		}
		c.ready = strings.TrimSpace(strings.TrimPrefix(l, "ready"))
		return c, nil
	case <-ctx.Done():
		return c, errors.New("child did not say it was ready in time")
	}
}

// stop closes the child's stdin, which ends it, and kills it if it has
// not exited within two seconds.
func (c *child) stop() {
	c.once.Do(func() {
		c.stdin.Close()
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// lockedWriter is a strings.Builder safe for the exec package's copying
// goroutine and a reader.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() < 4096 {
		l.w.Write(p)
	}
	return len(p), nil
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
