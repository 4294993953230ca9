package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/hub"
)

// Config holds the HTTP-level limits; app.DefaultConfig supplies them.
type Config struct {
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64
	// MaxFrameBytes caps one WebSocket frame; larger frames close the
	// socket with 1009.
	MaxFrameBytes int
	// MaxConnsPerUser and MaxConnsPerIP cap open sockets; 0 is unlimited.
	MaxConnsPerUser int
	MaxConnsPerIP   int
	// UpgradesPerUser and UpgradesPerIP are WebSocket upgrades a minute
	// (as many at once), refused with 429 before the upgrade; 0 is
	// unlimited. An address counts by its IPv6 /64 (auth.LimitKey).
	UpgradesPerUser int
	UpgradesPerIP   int
	Version         string
	// TrustedProxies are the peers whose X-Forwarded-* headers are
	// believed (proxy.go); none means the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// PublicURL, when set, is the server's own origin (scheme and host).
	PublicURL *url.URL
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
	// Cluster reports the node's cluster state for /health; nil on a
	// single node.
	Cluster func() *ClusterHealth
}

type server struct {
	cfg   Config
	db    chat.Store
	auth  *auth.Service
	hub   *hub.Hub
	codec codec.Source
	log   *slog.Logger
	conns *connLimiter
	// upgradesByUser and upgradesByIP rate-limit upgrades (UpgradesPer*).
	upgradesByUser *upgradeLimiter
	upgradesByIP   *upgradeLimiter
	// cluster is Deps.Cluster.
	cluster func() *ClusterHealth
}

// New builds the Echo application with every route of http-api.md.
func New(cfg Config, d Deps) *echo.Echo {
	s := &server{cfg: cfg, db: d.DB, auth: d.Auth, hub: d.Hub, codec: d.Codec, log: d.Log, conns: newConnLimiter(),
		upgradesByUser: newUpgradeLimiter(cfg.UpgradesPerUser), upgradesByIP: newUpgradeLimiter(cfg.UpgradesPerIP),
		cluster: d.Cluster}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = renderer{log: s.log}.render
	// c.RealIP() is the TCP peer, as auth.PeerIP: trusting X-Forwarded-For
	// or X-Real-IP from anyone would let a client pick its own address and
	// get around the per-IP connection cap. Behind trusted proxies, proxy
	// puts the client's address there first.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Pre(proxy(cfg.TrustedProxies, cfg.PublicURL))
	e.Use(middleware.Recover())
	e.Use(s.cors)
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
				return errTooLarge
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, max)
			return next(c)
		}
	}
}

// Timeouts are the HTTP server's: they drop slowloris clients and idle
// keep-alives.
type Timeouts struct {
	ReadHeader, Read, Idle time.Duration
}

// HTTPServer wraps the Echo app with its timeouts.
func HTTPServer(addr string, h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    32 << 10,
	}
}
