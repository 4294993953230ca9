package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStats is one reading of a process's resource use.
type ProcStats struct {
	CPU time.Duration // user + system time so far
	RSS int64         // resident set, bytes
	HWM int64         // peak resident set over the process's life, bytes (0 if unknown)
	// Writes counts write(2)-family system calls so far (syscw of
	// /proc/<pid>/io; 0 if unknown): with deliveries it says how many
	// messages a server puts into one system call.
	Writes int64
}

// StatsSource reads a server's resource use: from /proc for a child process
// (exact, separate from the generator), or from its /metrics for a server
// given by --url.
type StatsSource interface {
	Read() (ProcStats, error)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ProcSource reads /proc/<Pid>.
type ProcSource struct{ Pid int }

// Read parses /proc/<pid>/stat (utime, stime) and /proc/<pid>/status
// (VmRSS, VmHWM).
func (p ProcSource) Read() (ProcStats, error) {
	var st ProcStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return st, fmt.Errorf("read stat: %w", err)
	}
	st.CPU, err = parseStatCPU(stat)
	if err != nil {
		return st, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid))
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	st.RSS, st.HWM = parseStatusMem(status)
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.Pid)); err == nil {
		st.Writes = parseSyscW(io)
	}
	return st, nil
}

// parseSyscW returns the syscw count of /proc/<pid>/io, or 0.
func parseSyscW(io []byte) int64 {
	for line := range bytes.SplitSeq(io, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// parseStatCPU returns utime+stime from a /proc/<pid>/stat line. The
// command name in parentheses may hold spaces, so fields are counted from
// the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat: no command field")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parse stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	sy, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+sy) * time.Second / clockTicks, nil
}

// parseStatusMem returns VmRSS and VmHWM in bytes from /proc/<pid>/status.
func parseStatusMem(status []byte) (rss, hwm int64) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm
}

// MetricsSource reads process_cpu_seconds_total and
// process_resident_memory_bytes from a Prometheus text endpoint. It knows
// no lifetime peak; the sampler's maximum stands in for it.
type MetricsSource struct {
	URL    string
	Client *http.Client
}

// Read fetches and parses the metrics page.
func (m MetricsSource) Read() (ProcStats, error) {
	var st ProcStats
	c := m.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := c.Get(m.URL)
	if err != nil {
		return st, fmt.Errorf("get metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("get metrics: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return st, fmt.Errorf("read metrics: %w", err)
	}
	cpu, okCPU := promValue(body, "process_cpu_seconds_total")
	rss, okRSS := promValue(body, "process_resident_memory_bytes")
	if !okCPU || !okRSS {
		return st, fmt.Errorf("metrics: no process_cpu_seconds_total or process_resident_memory_bytes")
	}
	st.CPU = time.Duration(cpu * float64(time.Second))
	st.RSS = int64(rss)
	return st, nil
}

// promValue finds an unlabelled sample of name in Prometheus text format.
func promValue(body []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

// Sampler polls a StatsSource and keeps the largest RSS it saw, so a peak
// is known even where the kernel's VmHWM is not (a --url server).
type Sampler struct {
	src  StatsSource
	mu   sync.Mutex
	peak int64
	last ProcStats
	err  error
	stop chan struct{}
	done chan struct{}
}

// StartSampler polls src every interval until Stop.
func StartSampler(src StatsSource, interval time.Duration) *Sampler {
	s := &Sampler{src: src, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *Sampler) sample() {
	st, err := s.src.Read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.last = st
	s.peak = max(s.peak, st.RSS, st.HWM)
}

// Now takes a fresh reading (and folds it into the peak).
func (s *Sampler) Now() (ProcStats, error) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.err
}

// Peak is the largest RSS seen so far, including the kernel's VmHWM.
func (s *Sampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop ends the polling.
func (s *Sampler) Stop() {
	close(s.stop)
	<-s.done
}

// waitStable samples until the RSS changes by less than 1% across three
// readings step apart, or until timeout, and returns the last reading: the
// "settled" memory of an idle server.
func waitStable(ctx context.Context, s *Sampler, step, timeout time.Duration) (ProcStats, error) {
	deadline := time.Now().Add(timeout)
	var prev []int64
	for {
		st, err := s.Now()
		if err != nil {
			return st, err
		}
		prev = append(prev, st.RSS)
		if n := len(prev); n >= 3 {
			lo, hi := min(prev[n-1], prev[n-2], prev[n-3]), max(prev[n-1], prev[n-2], prev[n-3])
			if float64(hi-lo) <= 0.01*float64(hi) {
				return st, nil
			}
		}
		if time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(step):
		}
	}
}

// SelfCPU is the generator's own CPU time so far.
func SelfCPU() time.Duration {
	st, err := ProcSource{Pid: os.Getpid()}.Read()
	if err != nil {
		return 0
	}
	return st.CPU
}

// LoadAvg is the machine's one-minute load average, recorded with each run
// because other processes competing for the cores skew every figure.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// MachineCPU is the CPU time all processes and the kernel have used since
// boot, from /proc/stat: Tasks is user, nice, system and steal time;
// Interrupts is irq and softirq time, where much of the loopback network
// stack's work is accounted, on behalf of no process in particular.
// KernelThreads is the part of Tasks spent in kernel threads (ksoftirqd,
// kworker, jbd2: network and disk work done for whoever asked, such as a
// server's fsync), summed over /proc.
type MachineCPU struct {
	Tasks, Interrupts, KernelThreads time.Duration
}

// ReadMachineCPU reads /proc/stat and the kernel threads' times (zeros
// where it cannot).
func ReadMachineCPU() MachineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}
	}
	m, _ := parseMachineCPU(b)
	m.KernelThreads = kernelThreadsCPU()
	return m
}

// pfKthread is PF_KTHREAD, the flag (field 9 of /proc/<pid>/stat) that
// marks a kernel thread.
const pfKthread = 0x00200000

// kernelThreadsCPU sums utime+stime over the kernel threads alive now.
func kernelThreadsCPU() time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		if cpu, kthread := parseKthreadCPU(stat); kthread {
			total += cpu
		}
	}
	return total
}

// parseKthreadCPU returns a task's CPU time and whether it is a kernel thread.
func parseKthreadCPU(stat []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64) // field 9
	if err != nil || flags&pfKthread == 0 {
		return 0, false
	}
	cpu, err := parseStatCPU(stat)
	return cpu, err == nil
}

func parseMachineCPU(stat []byte) (MachineCPU, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("parse /proc/stat: unexpected first line %q", line)
	}
	sum := func(fields ...int) (time.Duration, error) {
		var ticks int64
		for _, i := range fields {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse /proc/stat: field %d: %w", i, err)
			}
			ticks += v
		}
		return time.Duration(ticks) * time.Second / clockTicks, nil
	}
	tasks, err := sum(1, 2, 3, 8) // user nice system steal
	if err != nil {
		return MachineCPU{}, err
	}
	irq, err := sum(6, 7) // irq softirq
	if err != nil {
		return MachineCPU{}, err
	}
	return MachineCPU{Tasks: tasks, Interrupts: irq}, nil
}
