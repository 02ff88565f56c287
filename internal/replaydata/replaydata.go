// Package replaydata generates the ndjson event files that replay's
// benchmarks and measurements run on.
package replaydata

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

// WriteHosts writes n realistic events as ndjson to path: Elastic
// Defend-shaped process starts (70 %) and network connections (30 %) from
// a few hundred processes on hosts machines (event i comes from host
// (i/2) mod hosts), with an automator → runner pair on one host every
// 100,000 events (events 50,000 and 50,001 of each 100,000). It returns
// the number of pairs. The benchmarks of cmd/macsensor replay its files
// ("the 1M-event 16-host file" of docs/PERFORMANCE.md is
// WriteHosts(path, 1_000_000, 16)), and tools/instr writes them.
func WriteHosts(path string, n, hosts int) (pairs int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixMilli()
	hostOf := func(k int) string {
		return fmt.Sprintf(`"host":{"id":"8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B%04X","name":"mac-%02d","hostname":"mac-%02d","architecture":"arm64","os":{"type":"macos","name":"macOS","version":"14.5","kernel":"23.5.0","family":"darwin","platform":"darwin"}},"agent":{"type":"macsensor","version":"0.1.0"}`, 0x7F10+k, k+1, k+1)
	}
	hostLines := make([]string, hosts)
	for k := range hostLines {
		hostLines[k] = hostOf(k)
	}
	names := []string{"zsh", "git", "curl", "python3", "node", "mdworker_shared", "Safari", "cfprefsd", "ssh", "xcodebuild"}
	ts := func(i int) string { return time.UnixMilli(base + int64(i)).UTC().Format("2006-01-02T15:04:05.000Z") }
	for i := 0; i < n; i++ {
		host := hostLines[(i/2)%hosts]
		pid := 1000 + i%500
		switch {
		case i%100000 == 50000:
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"automator","executable":"/usr/bin/automator","args":["automator","-i","/tmp/x.workflow"],"args_count":3,"command_line":"automator -i /tmp/x.workflow","parent":{"pid":400,"name":"zsh"}},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, 9000+i, 9000+i)
		case i%100000 == 50001:
			pairs++
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"com.apple.automator.runner","executable":"/System/Library/x/com.apple.automator.runner"},"source":{"ip":"192.168.1.10","port":52000},"destination":{"ip":"93.184.216.34","port":443},"network":{"transport":"tcp","type":"ipv4","direction":"egress"},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, 9100+i, 9100+i)
		case i%10 < 7:
			name := names[i%len(names)]
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"%s","executable":"/usr/bin/%s","args":["/usr/bin/%s","--flag","value-%d"],"args_count":3,"command_line":"/usr/bin/%s --flag value-%d","start":"%s","parent":{"pid":400,"entity_id":"E400","name":"zsh","executable":"/bin/zsh"}},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, pid, pid, name, name, name, i, name, i, ts(i))
		default:
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"%s","executable":"/usr/bin/%s"},"source":{"ip":"192.168.1.10","port":%d},"destination":{"ip":"17.253.144.10","port":443},"network":{"transport":"tcp","type":"ipv4","direction":"egress"},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, pid, pid, names[i%len(names)], names[i%len(names)], 49152+i%16000)
		}
	}
	if err := w.Flush(); err != nil {
		return pairs, err
	}
	return pairs, f.Close()
}
