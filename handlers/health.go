package handlers

import (
	"context"
	_ "embed"
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
	Version string `json:"version"`
}

// health reports whether the store answers (and which kind it is) and the
// codec round-trips a packet; either failing gives 503, so a load balancer
// stops sending work.
func (s *server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Store: s.db.Kind(), Codec: s.codec.Name(), Version: s.cfg.Version}
	body.DB = s.db.Ping(ctx) == nil
	body.CodecOK = codecWorks(ctx, s.codec)
	status := http.StatusOK
	if !body.DB || !body.CodecOK {
		body.Status = "unavailable"
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, body)
}

// codecWorks leases an instance and round-trips a tiny packet through it.
func codecWorks(ctx context.Context, src codec.Source) bool {
	inst, err := src.Acquire(ctx)
	if err != nil {
		return false
	}
	defer inst.Release()
	data, err := inst.Encode(codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("1")})
	if err != nil {
		return false
	}
	p, err := inst.Decode(data, 16)
	return err == nil && string(p.Payload) == "1"
}

//go:embed openapi.json
var openapiDoc []byte

func (s *server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openapiDoc)
}
