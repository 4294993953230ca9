package loadgen

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestParseProcFiles(t *testing.T) {
	stat, err := os.ReadFile("testdata/stat.txt")
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("testdata/status.txt")
	if err != nil {
		t.Fatal(err)
	}
	// utime 250 + stime 75 ticks at 100 Hz; the command name holds
	// spaces and parentheses.
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.25s", cpu, err)
	}
	rss, hwm := parseStatusMem(status)
	if rss != 120012<<10 || hwm != 183204<<10 {
		t.Errorf("parseStatusMem = %d, %d; want %d, %d", rss, hwm, 120012<<10, 183204<<10)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted a broken line", bad)
		}
	}
}

func TestParseKthreadCPU(t *testing.T) {
	stat, err := os.ReadFile("testdata/stat.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, k := parseKthreadCPU(stat); k {
		t.Error("a user process (flags 4194560) was taken for a kernel thread")
	}
	kthread := []byte("15 (rcu_preempt) I 2 0 0 0 -1 2129984 0 0 0 0 3 491 0 0 20 0 1 0 8 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0\n")
	if cpu, k := parseKthreadCPU(kthread); !k || cpu != 4940*time.Millisecond {
		t.Errorf("kernel thread: cpu %v kthread %v; want 4.94s true", cpu, k)
	}
	if kernelThreadsCPU() <= 0 {
		t.Log("no kernel thread CPU time visible (a container without host kthreads?)")
	}
}

func TestProcSourceSelf(t *testing.T) {
	st, err := ProcSource{Pid: os.Getpid()}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS {
		t.Errorf("own RSS %d, HWM %d: want 0 < RSS <= HWM", st.RSS, st.HWM)
	}
	// Writing to a pipe is a write system call, and syscw counts it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for range 3 {
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ProcSource{Pid: os.Getpid()}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if after.Writes-st.Writes < 3 {
		t.Errorf("write syscalls went from %d to %d after three writes", st.Writes, after.Writes)
	}
	if got := parseSyscW([]byte("rchar: 1\nsyscr: 5\nsyscw: 42\n")); got != 42 {
		t.Errorf("parseSyscW = %d, want 42", got)
	}
	if _, err := (ProcSource{Pid: 1 << 30}).Read(); err == nil {
		t.Error("reading a pid that does not exist succeeded")
	}
}

func TestMetricsSource(t *testing.T) {
	body, err := os.ReadFile("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	st, err := MetricsSource{URL: srv.URL + "/metrics"}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU != 12500*time.Millisecond || st.RSS != 54132736 {
		t.Errorf("Read = %+v; want CPU 12.5s, RSS 54132736", st)
	}
	if _, err := (MetricsSource{URL: srv.URL + "/nothing"}).Read(); err == nil {
		t.Error("a 404 metrics page was accepted")
	}
}

func TestParseMachineCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want MachineCPU
		ok   bool
	}{
		// user 100 nice 1 system 50 idle 9999 iowait 7 irq 2 softirq 3 steal 4.
		{"ticks", "cpu  100 1 50 9999 7 2 3 4 0 0\ncpu0 50 0 25 5000 3 1 1 2 0 0\n",
			MachineCPU{Tasks: 1550 * time.Millisecond, Interrupts: 50 * time.Millisecond}, true},
		{"not the cpu line", "intr 1 2 3\n", MachineCPU{}, false},
		{"short line", "cpu 1 2 3\n", MachineCPU{}, false},
		{"garbage number", "cpu  x 1 50 9999 7 2 3 4 0 0\n", MachineCPU{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineCPU([]byte(tt.stat))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseMachineCPU = %+v, %v; want %+v, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
	if ReadMachineCPU().Tasks <= 0 {
		t.Error("ReadMachineCPU on this machine reads no task time")
	}
}
