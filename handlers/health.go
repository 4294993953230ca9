package handlers

import (
	"context"
	_ "embed"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/codec"
)

type healthBody struct {
	Status  string `json:"status"`
	DB      bool   `json:"db"`
	Store   string `json:"store"`
	Codec   string `json:"codec"`
	CodecOK bool   `json:"codecOk"`
	// CodecBusy: every codec instance was leased, so none was tried; a busy
	// pool is not a broken one (rooms fall back to the Go codec).
	CodecBusy bool   `json:"codecBusy,omitempty"`
	Version   string `json:"version"`
	// Cluster is present in cluster mode only.
	Cluster *ClusterHealth `json:"cluster,omitempty"`
}

// ClusterHealth is a cluster node's part of /health. NATS is "connected"
// or "degraded": a node without NATS still stores and serves its own
// sockets (and reads other nodes' messages from the store), so degraded is
// a 200 with status "degraded", not a 503.
type ClusterHealth struct {
	NodeID string `json:"nodeId"`
	NATS   string `json:"nats"`
	Server string `json:"server,omitempty"`
	Peers  int    `json:"peers"`
	Rooms  int    `json:"rooms"`
}

// codecProbeWait is how long /health waits for an idle codec instance. It
// never waits for one to be freed: an exhausted pool must not fail the
// health check, and the check must not compete with rooms for instances.
const codecProbeWait = 100 * time.Millisecond

// health reports whether the store answers (and which kind it is) and the
// codec round-trips a packet; either failing gives 503, so a load balancer
// stops sending work.
func (s *server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Store: s.db.Kind(), Codec: s.codec.Name(), Version: s.cfg.Version}
	body.DB = s.db.Ping(ctx) == nil
	body.CodecOK, body.CodecBusy = codecWorks(ctx, s.codec)
	status := http.StatusOK
	if s.cluster != nil {
		body.Cluster = s.cluster()
		if body.Cluster.NATS != "connected" {
			body.Status = "degraded"
		}
	}
	if !body.DB || !body.CodecOK {
		body.Status = "unavailable"
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, body)
}

// codecWorks round-trips a tiny packet through an instance it can lease
// within codecProbeWait; busy reports that none was free in time.
func codecWorks(ctx context.Context, src codec.Source) (ok, busy bool) {
	actx, cancel := context.WithTimeout(ctx, codecProbeWait)
	defer cancel()
	inst, err := src.Acquire(actx)
	if err != nil {
		busy = errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		return busy, busy
	}
	defer inst.Release()
	data, err := inst.Encode(codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("1")})
	if err != nil {
		return false, false
	}
	p, err := inst.Decode(data, 16)
	return err == nil && string(p.Payload) == "1", false
}

//go:embed openapi.json
var openapiDoc []byte

func (s *server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openapiDoc)
}
