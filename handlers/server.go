package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/hub"
)

// Config holds the HTTP-level limits.
type Config struct {
	// MaxBodyBytes caps every request body (default 64 KiB).
	MaxBodyBytes int64
	// MaxFrameBytes caps one WebSocket frame; larger frames close the
	// socket with 1009 (default 64 KiB).
	MaxFrameBytes int
	// MaxConnsPerUser and MaxConnsPerIP cap open sockets; 0 is unlimited.
	MaxConnsPerUser int
	MaxConnsPerIP   int
	Version         string
}

// Deps are the parts the routes use.
type Deps struct {
	DB    chat.Store
	Auth  *auth.Service
	Hub   *hub.Hub
	Codec codec.Source
	Log   *slog.Logger
	// Metrics serves /metrics; nil leaves the route out.
	Metrics http.Handler
	// Extra registers more routes (the web client).
	Extra func(e *echo.Echo)
}

type server struct {
	cfg   Config
	db    chat.Store
	auth  *auth.Service
	hub   *hub.Hub
	codec codec.Source
	log   *slog.Logger
	conns *connLimiter
}

// New builds the Echo application with every route of http-api.md.
func New(cfg Config, d Deps) *echo.Echo {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = 64 << 10
	}
	s := &server{cfg: cfg, db: d.DB, auth: d.Auth, hub: d.Hub, codec: d.Codec, log: d.Log, conns: newConnLimiter()}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	// c.RealIP() is the TCP peer, as auth.PeerIP: trusting X-Forwarded-For
	// or X-Real-IP from anyone would let a client pick its own address and
	// get around the per-IP connection cap.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(middleware.Recover())
	e.Use(bodyLimit(cfg.MaxBodyBytes))
	e.Use(d.Auth.OriginMiddleware())

	RegisterAuth(e, d.Auth)

	e.GET("/", s.websocket)
	e.GET("/ws/:room", s.websocket)

	e.POST("/rpc/messages/get", s.rpcMessages)
	e.GET("/api/messages", s.listMessages)
	e.POST("/api/messages", s.postMessage)
	e.PUT("/api/messages/:id/react", s.react)
	e.DELETE("/api/messages/:id", s.deleteMessage)
	e.GET("/api/users/:id", s.user)

	e.GET("/health", s.health)
	e.GET("/api/health", s.health)
	e.GET("/openapi.json", s.openapi)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics))
	}
	if d.Extra != nil {
		d.Extra(e)
	}
	return e
}

// bodyLimit rejects bodies above max with 413 before a handler reads them.
func bodyLimit(max int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > max {
				return writeError(c, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "request body too large")
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, max)
			return next(c)
		}
	}
}

// errorHandler turns Echo's own errors (404, 405, ...) into the JSON error
// shape, and anything unexpected into a logged 500 without details.
func (s *server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error"
	if he, ok := err.(*echo.HTTPError); ok {
		status = he.Code
		switch status {
		case http.StatusNotFound:
			code, msg = "NOT_FOUND", "no such route"
		case http.StatusMethodNotAllowed:
			code, msg = "METHOD_NOT_ALLOWED", "method not allowed on this route"
		case http.StatusRequestEntityTooLarge:
			code, msg = "PAYLOAD_TOO_LARGE", "request body too large"
		default:
			code, msg = http.StatusText(status), http.StatusText(status)
		}
	} else {
		s.log.Error("http: unhandled error", "path", c.Path(), "err", err)
	}
	_ = writeError(c, status, code, msg)
}

// HTTPServer wraps the Echo app with the timeouts that drop slowloris
// clients and idle keep-alives.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}
