package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

func init() {
	register("events", "stream what the sensor sees as ndjson ECS events on stdout", cmdEvents)
}

func cmdEvents(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	interval := fs.Duration("interval", time.Second, "time between two polls of the process and socket tables")
	count := fs.Int("count", 0, "stop after this many events (0: run until interrupted)")
	existing := fs.Bool("existing", false, "also emit a start event (already_running) for every process already running")
	procEvents := fs.Bool("process-events", true, "read each process the moment the kernel reports its exec (needs root on Linux); polling alone when false or unavailable")
	exits := fs.Bool("exits", false, "also emit an end event when a process exits")
	signatures := fs.Bool("code-signatures", true, "verify executables' code signatures and hash them (process.code_signature.*, process.hash.sha256), as the daemon does")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor events [--interval DUR] [--count N] [--existing] [--process-events=false] [--exits] [--code-signatures=false]")
		fmt.Fprintln(stderr, "\nPolls the kernel's process and socket tables, and follows the kernel's process")
		fmt.Fprintln(stderr, "events, and prints each new process start and network connection as one ECS")
		fmt.Fprintln(stderr, "JSON line. Run it as root to see every process's arguments and sockets.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *interval <= 0 || *count < 0 {
		fs.Usage()
		return 2
	}
	sc := defaultConfig(runtime.GOOS, "").Sensor
	sc.CodeSignatures = *signatures
	sigs := openSignatures(sc)
	defer sigs.close()
	s, closeFn, err := openSensor(sensor.Options{EmitExisting: *existing, ExitEvents: *exits,
		Signatures: sigs.sensorSignatures(), SignatureBudget: sigs.budget})
	if err != nil {
		fmt.Fprintln(stderr, "macsensor events:", err)
		return 1
	}
	defer closeFn()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opt := sensor.LoopOptions{ProcessEvery: *interval, SocketEvery: *interval,
		OnError: func(err error) { fmt.Fprintln(stderr, "macsensor events: poll:", err) }}
	if *procEvents {
		src, err := openProcessEvents()
		if err != nil {
			fmt.Fprintln(stderr, "macsensor events: process events unavailable, polling alone:", err)
		} else {
			q := sensor.NewProcessEvents(0)
			go q.Feed(src)
			defer src.Close()
			opt.ProcessEvents = q
		}
	}
	out := make(chan sensor.Batch, 1024)
	loopCtx, stopLoop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.LoopWith(loopCtx, opt, out)
	}()
	defer func() { stopLoop(); <-done }()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	var (
		line    []byte
		printed int
	)
	for {
		select {
		case <-ctx.Done():
			return 0
		case b := <-out:
			for _, ev := range b.Events {
				line = append(ev.AppendJSON(line[:0]), '\n')
				if _, err := w.Write(line); err != nil {
					return 1
				}
				printed++
				if *count > 0 && printed >= *count {
					return 0
				}
			}
			if err := w.Flush(); err != nil {
				return 1
			}
		}
	}
}

// openSensor opens this OS's process and socket tables and reads the host
// identity. closeFn releases the tables.
func openSensor(opt sensor.Options) (s *sensor.Sensor, closeFn func(), err error) {
	hi, err := host.Read()
	if err != nil {
		return nil, nil, err
	}
	pt, err := proc.Open()
	if err != nil {
		return nil, nil, err
	}
	st, err := socket.Open()
	if err != nil {
		pt.Close()
		return nil, nil, err
	}
	opt.Host = hi
	opt.Agent = ecs.Agent{ID: hi.ID, Type: "macsensor", Version: version, Name: hi.Hostname}
	if opt.UserName == nil {
		opt.UserName = sensor.UserName
	}
	return sensor.New(pt, st, opt), func() { st.Close(); pt.Close() }, nil
}
