package loadgen

// nodes.go: load spread over a cluster's nodes (bench load --nodes). The
// k-th client of a room connects to node k mod N, so every room has
// clients, senders included, on every node, and a delivery is same-node or
// cross-node by the two clients' indexes alone.

import (
	"fmt"
	"time"
)

// NodeLatency is the delivery latency split by where the sender and the
// receiver were connected: same node (one node's fan-out) or different
// nodes (through NATS).
type NodeLatency struct {
	SameP50Ms   float64 `json:"same_node_p50_ms"`
	SameP99Ms   float64 `json:"same_node_p99_ms"`
	SameCount   uint64  `json:"same_node_deliveries"`
	CrossP50Ms  float64 `json:"cross_node_p50_ms"`
	CrossP99Ms  float64 `json:"cross_node_p99_ms"`
	CrossCount  uint64  `json:"cross_node_deliveries"`
	CrossMaxMs  float64 `json:"cross_node_max_ms"`
	SameNodeMax float64 `json:"same_node_max_ms"`
}

// nodeSpread is a run's node layout; the zero value is one server.
type nodeSpread struct {
	ws          []string
	same, cross Histogram
}

func (n *nodeSpread) init(cfg Config) error {
	for _, u := range cfg.NodeURLs {
		w, err := wsBase(u)
		if err != nil {
			return fmt.Errorf("node %s: %w", u, err)
		}
		n.ws = append(n.ws, w)
	}
	return nil
}

// node is the node of a room's idx-th client.
func (n *nodeSpread) node(idx int) int { return idx % len(n.ws) }

// wsURL is the base URL the room's idx-th client joins through.
func (n *nodeSpread) wsURL(def string, room, idx int) string {
	if len(n.ws) == 0 {
		return def
	}
	return n.ws[n.node(idx)]
}

// record files one delivery's latency; a room's senders are its first
// clients, so sender s is client s.
func (n *nodeSpread) record(room, sender, idx int, d time.Duration) {
	if len(n.ws) == 0 {
		return
	}
	if n.node(sender) == n.node(idx) {
		n.same.Record(d)
	} else {
		n.cross.Record(d)
	}
}

func (n *nodeSpread) fill(res *Result) {
	if len(n.ws) == 0 {
		return
	}
	res.Nodes = len(n.ws)
	res.Split = &NodeLatency{
		SameP50Ms: ms(n.same.Quantile(0.5)), SameP99Ms: ms(n.same.Quantile(0.99)), SameCount: n.same.Count(), SameNodeMax: ms(n.same.Max()),
		CrossP50Ms: ms(n.cross.Quantile(0.5)), CrossP99Ms: ms(n.cross.Quantile(0.99)), CrossCount: n.cross.Count(), CrossMaxMs: ms(n.cross.Max()),
	}
}

// MultiProc reads several processes as one server: CPU, RSS and writes
// summed, the peak being the sum of the peaks.
type MultiProc []int

// Read sums /proc figures over the pids.
func (m MultiProc) Read() (ProcStats, error) {
	var sum ProcStats
	for _, pid := range m {
		st, err := ProcSource{Pid: pid}.Read()
		if err != nil {
			return sum, err
		}
		sum.CPU += st.CPU
		sum.RSS += st.RSS
		sum.HWM += st.HWM
		sum.Writes += st.Writes
	}
	return sum, nil
}
