package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/hub"
)

// Socket timing: a client must answer pings within pongWait, and a write
// that takes longer than writeWait fails the connection.
const (
	writeWait  = 10 * time.Second
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
)

// banner is what GET / answers without an upgrade, as upstream did.
const banner = "WasmChannel: real-time chat over WebSocket. Connect with a WebSocket to / or /ws/:room.\n"

// wsTransport adapts a gorilla connection to hub.Transport: prepared frames
// so each broadcast is framed once, and a close that never blocks the room.
type wsTransport struct {
	ws        *websocket.Conn
	closeOnce sync.Once
	done      chan struct{}
}

func prepare(b []byte) any {
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, b)
	if err != nil {
		return err
	}
	return pm
}

func (t *wsTransport) WriteFrame(f *hub.Frame) error {
	if err := t.ws.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	switch v := f.Prepared(prepare).(type) {
	case *websocket.PreparedMessage:
		return t.ws.WritePreparedMessage(v)
	case error:
		return v
	}
	return errors.New("ws: unprepared frame")
}

// Close sends the close frame and closes the socket from its own goroutine,
// so a slow client cannot stall whoever closes it.
func (t *wsTransport) Close(code int, reason string) {
	t.closeOnce.Do(func() {
		close(t.done)
		go func() {
			msg := websocket.FormatCloseMessage(code, reason)
			_ = t.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			// Give the peer a moment to read the close frame before the reset.
			time.Sleep(50 * time.Millisecond)
			_ = t.ws.Close()
		}()
	})
}

// startPinger pings every pingPeriod from a timer rather than a goroutine,
// so an idle socket holds no extra stack; it stops when the socket closes.
func (t *wsTransport) startPinger() {
	var tick func()
	tick = func() {
		select {
		case <-t.done:
			return
		default:
		}
		if err := t.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
			return
		}
		time.AfterFunc(pingPeriod, tick)
	}
	time.AfterFunc(pingPeriod, tick)
}

// writeBuffers lends write buffers to sockets for the duration of a write.
var writeBuffers = &sync.Pool{}

// websocket upgrades GET / and GET /ws/:room after checking the room name,
// the Origin, the session and the connection caps, in that order.
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
	id, err := s.identity(c)
	if err != nil {
		return err
	}
	ip := c.RealIP()
	if who := s.conns.acquire(id.User.ID, ip, s.cfg.MaxConnsPerUser, s.cfg.MaxConnsPerIP); who != "" {
		return &Error{Status: http.StatusTooManyRequests, Code: "TOO_MANY_CONNECTIONS", Message: "this " + who + " has too many open connections", RetryAfter: 10}
	}
	up := websocket.Upgrader{
		// Zero sizes reuse the HTTP server's buffers for reading, and the
		// pool lends a write buffer only while a frame is being written, so
		// an idle socket holds neither (measured with bench load --idle).
		WriteBufferPool: writeBuffers,
		// The Origin was checked above against the trusted list; a request
		// without one is a non-browser client with a session.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(c.Response(), req, nil)
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
		s.serveSocket(ws, room, id.User.ID, id.User.Name, ip, id.Session.TokenHash)
	}()
	return nil
}

// serveSocket runs one connection's read loop until it ends.
func (s *server) serveSocket(ws *websocket.Conn, room, userID, name, ip, sessionKey string) {
	t := &wsTransport{ws: ws, done: make(chan struct{})}
	conn := hub.NewConn(t, userID, name, ip)
	conn.SessionKey = sessionKey
	ctx := context.Background()
	if err := s.hub.Join(ctx, room, conn); err != nil {
		t.Close(hub.DisconnectUnavailable.Code, hub.DisconnectUnavailable.Reason)
		return
	}
	defer s.hub.Leave(conn)
	t.startPinger()
	ws.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				conn.Disconnect(hub.DisconnectTooBig)
			}
			return
		}
		// Text frames are treated as their bytes, as upstream did.
		if err := s.hub.Receive(ctx, conn, data); err != nil {
			return
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
