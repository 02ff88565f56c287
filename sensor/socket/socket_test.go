package socket

import "testing"

func TestStateString(t *testing.T) {
	want := []string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT",
		"FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"}
	for i, w := range want {
		if got := State(i).String(); got != w {
			t.Errorf("State(%d) = %q, want %q", i, got, w)
		}
	}
	if TimeWait != 10 || Established != 4 || Listen != 1 {
		t.Errorf("xnu numbering broken: TimeWait %d Established %d Listen %d", TimeWait, Established, Listen)
	}
	if got := State(11).String(); got != "State(11)" {
		t.Errorf("State(11) = %q", got)
	}
}

func TestOwner(t *testing.T) {
	for _, tc := range []struct {
		last, e, want int32
	}{
		{1234, 1234, 1234}, // ordinary
		{4321, 999, 999},   // delegated: so_e_pid is responsible
		{4321, 0, 4321},    // no effective pid
		{0, 0, 0},          // no owner (Linux TIME_WAIT)
		{0, 77, 77},
	} {
		c := Conn{LastPID: tc.last, EPID: tc.e}
		if got := c.Owner(); got != tc.want {
			t.Errorf("Owner(last %d, e %d) = %d, want %d", tc.last, tc.e, got, tc.want)
		}
	}
}
