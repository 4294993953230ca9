package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/hub"
	"github.com/wasmchannel/wasmchannel/wsframe"
)

// Socket timing: a client must answer pings within pongWait; writes are
// bounded by wsframe.DefaultWriteWait.
const (
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
)

// banner is what GET / answers without an upgrade, as upstream did.
const banner = "WasmChannel: real-time chat over WebSocket. Connect with a WebSocket to / or /ws/:room.\n"

// wsTransport adapts a wsframe connection to hub.BatchTransport: each
// broadcast is framed once, and a drained queue goes out in batches of one
// writev each, with pings and the close frame only between frames.
type wsTransport struct {
	fc *wsframe.Conn
}

// framesPool lends WriteFrames its frame list, so an idle socket holds
// none.
var framesPool = sync.Pool{New: func() any { return new([][]byte) }}

var _ hub.BatchTransport = (*wsTransport)(nil)

func prepare(b []byte) any { return wsframe.Binary(b) }

func (t *wsTransport) WriteFrame(f *hub.Frame) error {
	return t.fc.WriteFrames([][]byte{f.Prepared(prepare).([]byte)})
}

func (t *wsTransport) WriteFrames(fs []*hub.Frame) error {
	bp := framesPool.Get().(*[][]byte)
	bufs := (*bp)[:0]
	if cap(bufs) < len(fs) {
		bufs = make([][]byte, 0, len(fs)) // once, not doubling per frame
	}
	for _, f := range fs {
		bufs = append(bufs, f.Prepared(prepare).([]byte))
	}
	err := t.fc.WriteFrames(bufs)
	clear(bufs) // the pool must not keep frames alive
	if cap(bufs) <= wsframe.DefaultMaxBatchFrames {
		*bp = bufs[:0]
		framesPool.Put(bp)
	}
	return err
}

// Close sends the close frame after the batch in progress and closes the
// socket; it never blocks the room.
func (t *wsTransport) Close(code int, reason string) { t.fc.Close(code, reason) }

// disconnect closes with a value of hub's close vocabulary.
func (t *wsTransport) disconnect(d hub.Disconnect) { t.Close(d.Code, d.Reason) }

// websocket upgrades GET / and GET /ws/:room after checking the room name,
// the Origin, the address's upgrade rate, the session, the user's upgrade
// rate and the connection caps, in that order: each refusal is an HTTP
// answer, before any room hears of the socket.
func (s *server) websocket(c echo.Context) error {
	req := c.Request()
	room := c.Param("room")
	if room == "" {
		room = hub.DefaultRoom
	}
	if !websocket.IsWebSocketUpgrade(req) {
		if c.Path() == "/" {
			return c.String(http.StatusOK, banner)
		}
		return badRequest("UPGRADE_REQUIRED", "this route needs a WebSocket upgrade")
	}
	if !hub.ValidRoom(room) {
		return errInvalidRoom
	}
	if req.Header.Get("Origin") != "" {
		if err := s.auth.CheckOrigin(req); err != nil {
			return &Error{Status: http.StatusForbidden, Code: "INVALID_ORIGIN", Message: "this Origin is not trusted"}
		}
	}
	ip := c.RealIP()
	if wait, ok := s.upgradesByIP.take(auth.LimitKey(ip)); !ok {
		return tooManyUpgrades("address", s.cfg.UpgradesPerIP, wait)
	}
	id, err := s.identity(c)
	if err != nil {
		return err
	}
	if wait, ok := s.upgradesByUser.take(id.User.ID); !ok {
		return tooManyUpgrades("user", s.cfg.UpgradesPerUser, wait)
	}
	if who := s.conns.acquire(id.User.ID, ip, s.cfg.MaxConnsPerUser, s.cfg.MaxConnsPerIP); who != "" {
		return &Error{Status: http.StatusTooManyRequests, Code: "TOO_MANY_CONNECTIONS", Message: "this " + who + " has too many open connections", RetryAfter: 10}
	}
	up := websocket.Upgrader{
		// wsframe.Upgrade sets the buffers: a small read buffer and no
		// write buffer kept (wsframe writes every frame).
		//
		// The Origin was checked above against the trusted list; a request
		// without one is a non-browser client with a session.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	fc, err := wsframe.Upgrade(&up, c.Response(), req, nil, wsframe.DefaultConfig())
	if err != nil {
		// Upgrade has already answered the client.
		s.conns.release(id.User.ID, ip)
		return nil
	}
	// The socket runs on its own goroutine and the handler returns, so an
	// idle socket keeps neither net/http's request stack nor its buffers
	// (about 25 KB each, measured with bench load --idle).
	go func() {
		defer s.conns.release(id.User.ID, ip)
		s.serveSocket(fc, room, id.User.ID, id.Session.TokenHash)
	}()
	return nil
}

// tooManyUpgrades is the 429 of an upgrade rate limit.
func tooManyUpgrades(who string, perMinute int, wait time.Duration) error {
	return &Error{
		Status: http.StatusTooManyRequests, Code: "TOO_MANY_UPGRADES",
		Message:    fmt.Sprintf("this %s opened too many WebSockets: %d a minute at most", who, perMinute),
		RetryAfter: retryAfterSeconds(wait),
	}
}

// joinRefused is the close for a socket its room would not take: 1013,
// with the hub's reason when it gave one (too many rooms awake).
func joinRefused(err error) hub.Disconnect {
	d := hub.DisconnectUnavailable
	var he *hub.Error
	if errors.As(err, &he) && errors.Is(err, hub.ErrTooManyRooms) {
		d.Reason = he.Message
		// A close reason fits in 123 bytes (RFC 6455 § 5.5).
		if len(d.Reason) > 123 {
			d.Reason = d.Reason[:120] + "..."
		}
	}
	return d
}

// serveSocket runs one connection's read loop until it ends.
func (s *server) serveSocket(fc *wsframe.Conn, room, userID, sessionKey string) {
	t := &wsTransport{fc: fc}
	ws := fc.WS()
	conn := hub.NewConn(t, userID, "", "")
	conn.SessionKey = sessionKey
	ctx := context.Background()
	if err := s.hub.Join(ctx, room, conn); err != nil {
		t.disconnect(joinRefused(err))
		return
	}
	defer s.hub.Leave(conn)
	fc.StartPinger(pingPeriod)
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	tooBig := messageTooBig(s.cfg.MaxFrameBytes)
	for {
		data, err := readMessage(ws, s.cfg.MaxFrameBytes)
		if err != nil {
			if errors.Is(err, errMessageTooBig) {
				conn.Disconnect(tooBig)
			}
			return
		}
		// Text frames are treated as their bytes, as upstream did.
		if err := s.hub.Receive(ctx, conn, data); err != nil {
			return
		}
	}
}

// errMessageTooBig is a message above the read limit.
var errMessageTooBig = errors.New("handlers: message too big")

// messageTooBig is the close of a socket whose message passed max bytes:
// 1009 with the limit, fragments included.
func messageTooBig(max int) hub.Disconnect {
	return hub.Disconnect{Code: websocket.CloseMessageTooBig, Reason: fmt.Sprintf("message too big: %d bytes at most, fragments included", max)}
}

// readMessage reads the next data message, however it is fragmented,
// holding at most max+1 of its bytes: the limit is ours rather than
// gorilla's SetReadLimit so that the close carries a reason. gorilla holds
// no message bytes itself (its reader streams frame by frame from the
// connection's fixed buffer), so what a socket holds in unfinished
// fragments is this buffer, bounded by max.
func readMessage(ws *websocket.Conn, max int) ([]byte, error) {
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(512, max+1))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), max+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return nil, errMessageTooBig
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// connLimiter counts the sockets each user and each address hold. A place
// is taken before the upgrade, under the same lock as the cap check, so
// that upgrades racing each other cannot together pass a cap; it is given
// back when the socket's handler returns.
type connLimiter struct {
	mu     sync.Mutex
	byUser map[string]int
	byIP   map[string]int
}

func newConnLimiter() *connLimiter {
	return &connLimiter{byUser: make(map[string]int), byIP: make(map[string]int)}
}

// acquire takes a place for user at ip, or returns which cap ("user" or
// "address") is reached; a cap of 0 is none.
func (l *connLimiter) acquire(user, ip string, maxUser, maxIP int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if maxUser > 0 && l.byUser[user] >= maxUser {
		return "user"
	}
	if maxIP > 0 && l.byIP[ip] >= maxIP {
		return "address"
	}
	l.byUser[user]++
	l.byIP[ip]++
	return ""
}

func (l *connLimiter) release(user, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byUser[user]--; l.byUser[user] <= 0 {
		delete(l.byUser, user)
	}
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}
