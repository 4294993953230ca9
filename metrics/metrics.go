// Package metrics owns the Prometheus collectors: the hub's packet and
// connection counters, codec call latency, the WASM pool and the
// persistence writer. It replaces upstream's Workers analytics.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmchannel/wasmchannel/codec"
)

// Metrics is one registry with every collector; it implements hub.Observer.
type Metrics struct {
	reg *prometheus.Registry

	connections   prometheus.Gauge
	rooms         prometheus.Gauge
	packetsIn     *prometheus.CounterVec
	packetsOut    *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	rateLimited   prometheus.Counter
	slowDropped   prometheus.Counter
	codecSeconds  *prometheus.HistogramVec
	batchSeconds  prometheus.Histogram
	batchSize     prometheus.Histogram
	batchFailures prometheus.Counter
}

// New registers every collector on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmchannel_connections", Help: "Open WebSocket connections in rooms."})
	m.rooms = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmchannel_rooms_active", Help: "Awake rooms (each holds a codec instance)."})
	m.packetsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmchannel_packets_in_total", Help: "Valid packets received from clients, by kind."}, []string{"kind"})
	m.packetsOut = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmchannel_packets_out_total", Help: "Packets queued to clients (one per receiving connection), by kind."}, []string{"kind"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmchannel_packets_rejected_total", Help: "Client packets refused, by error class (codec class, rule or codec_fault)."}, []string{"class"})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmchannel_rate_limited_total", Help: "Packets and requests refused by the per-user rate limit."})
	m.slowDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmchannel_slow_clients_dropped_total", Help: "Connections closed because their send queue overflowed."})
	m.codecSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "wasmchannel_codec_call_seconds", Help: "Codec encode and decode call latency, by codec.",
		Buckets: prometheus.ExponentialBuckets(250e-9, 4, 10),
	}, []string{"codec", "op"})
	m.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wasmchannel_persist_batch_seconds", Help: "Group-commit transaction latency.",
		Buckets: prometheus.ExponentialBuckets(100e-6, 3, 10),
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wasmchannel_persist_batch_messages", Help: "Messages per group-commit transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.batchFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmchannel_persist_batch_failures_total", Help: "Group-commit transactions that failed (their senders got an error)."})
	for _, c := range []prometheus.Collector{m.connections, m.rooms, m.packetsIn, m.packetsOut, m.rejected, m.rateLimited, m.slowDropped, m.codecSeconds, m.batchSeconds, m.batchSize, m.batchFailures} {
		f(c)
	}
	for _, class := range append(codec.ClassNames(), "rule", "codec_fault") {
		m.rejected.WithLabelValues(class)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// GaugeFunc registers a gauge read at scrape time (queue depth, pool size).
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read at scrape time (pool leases, traps).
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// Info registers a gauge of 1 carrying labels (the cluster's node id), so
// every series a scrape returns can be joined to the process that made it.
func (m *Metrics) Info(name, help string, labels map[string]string) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 { return 1 }))
}

// The hub.Observer methods.

func (m *Metrics) PacketIn(k codec.Kind) { m.packetsIn.WithLabelValues(k.String()).Inc() }
func (m *Metrics) PacketOut(k codec.Kind, n int) {
	m.packetsOut.WithLabelValues(k.String()).Add(float64(n))
}
func (m *Metrics) Rejected(class string)  { m.rejected.WithLabelValues(class).Inc() }
func (m *Metrics) RateLimited()           { m.rateLimited.Inc() }
func (m *Metrics) ConnectionsDelta(d int) { m.connections.Add(float64(d)) }
func (m *Metrics) RoomsActive(n int)      { m.rooms.Set(float64(n)) }
func (m *Metrics) SlowClientDropped()     { m.slowDropped.Inc() }

// Batch records one group commit; it matches batch.Config.OnBatch.
func (m *Metrics) Batch(n int, took time.Duration, err error) {
	m.batchSeconds.Observe(took.Seconds())
	m.batchSize.Observe(float64(n))
	if err != nil {
		m.batchFailures.Inc()
	}
}

// TimedSource wraps src so every Encode and Decode is timed under the
// codec's name, the same way for the Go codec and WASM modules.
func (m *Metrics) TimedSource(src codec.Source) codec.Source {
	name := src.Name()
	return &timedSource{src: src,
		enc: m.codecSeconds.WithLabelValues(name, "encode"),
		dec: m.codecSeconds.WithLabelValues(name, "decode"),
	}
}

type timedSource struct {
	src      codec.Source
	enc, dec prometheus.Observer
}

func (t *timedSource) Name() string { return t.src.Name() }

func (t *timedSource) Acquire(ctx context.Context) (codec.Instance, error) {
	in, err := t.src.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &timedInstance{Instance: in, s: t}, nil
}

type timedInstance struct {
	codec.Instance
	s *timedSource
}

func (t *timedInstance) Encode(p codec.Packet) ([]byte, error) {
	start := time.Now()
	b, err := t.Instance.Encode(p)
	t.s.enc.Observe(time.Since(start).Seconds())
	return b, err
}

func (t *timedInstance) Decode(data []byte, max int) (codec.Packet, error) {
	start := time.Now()
	p, err := t.Instance.Decode(data, max)
	t.s.dec.Observe(time.Since(start).Seconds())
	return p, err
}
