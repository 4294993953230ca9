package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
)

func init() {
	register("chat", "a terminal WebSocket client: print a room's packets, send stdin lines as messages", runChat)
}

// packetJSON is how chat prints a packet: one JSON object a line.
type packetJSON struct {
	Kind      string  `json:"kind"`
	MessageID *string `json:"message_id,omitempty"`
	UserID    *string `json:"user_id,omitempty"`
	Reaction  *uint32 `json:"reaction_kind,omitempty"`
	Payload   string  `json:"payload"`
}

func runChat(args []string, stdout, stderr io.Writer) int {
	o, code := chatFlags(args, stderr)
	if code >= 0 {
		return code
	}
	ws, err := dialRoom(o.url, o.token)
	if err != nil {
		fmt.Fprintln(stderr, "chat:", err)
		return 1
	}
	defer ws.Close()
	fmt.Fprintf(stderr, "joined %s; type a line and press enter to send it, Ctrl-D to leave\n", o.room)
	s := &chatSession{ws: ws, unacked: map[string]bool{}, acked: make(chan struct{}, 1), done: make(chan struct{})}
	go s.print(stdout, stderr)
	if err := s.sendLines(os.Stdin, stderr); err != nil {
		fmt.Fprintln(stderr, "chat: send:", err)
		return 1
	}
	s.leave(5 * time.Second)
	return 0
}

// chatOptions are what chat's flags name.
type chatOptions struct {
	url         *url.URL // the room's WebSocket
	room, token string
}

// chatFlags parses chat's flags; code is the exit code when chat must
// stop, else -1.
func chatFlags(args []string, stderr io.Writer) (o chatOptions, code int) {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("url", "http://"+app.DefaultConfig().Addr, "server base URL")
	room := fs.String("room", "room", "room to join")
	tok := fs.String("token", os.Getenv("WASMCHANNEL_TOKEN"), "session token from sign-up or sign-in (or WASMCHANNEL_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0
		}
		return o, 2
	}
	if *tok == "" {
		fmt.Fprintln(stderr, "chat: --token is required (the \"token\" field of a sign-up or sign-in reply)")
		return o, 2
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fmt.Fprintf(stderr, "chat: --url %q: want http://host:port or https://host:port\n", *server)
		return o, 2
	}
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = "/ws/" + url.PathEscape(*room)
	return chatOptions{url: u, room: *room, token: *tok}, -1
}

// dialRoom opens the room's WebSocket with the token as a Bearer header.
func dialRoom(u *url.URL, token string) (*websocket.Conn, error) {
	ws, resp, err := websocket.DefaultDialer.Dial(u.String(), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %s", u, resp.Status)
		}
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return ws, nil
}

// chatSession is one terminal client's socket and the ids it still waits
// to see echoed.
type chatSession struct {
	ws  *websocket.Conn
	wmu sync.Mutex // serializes writes
	// unacked holds ids sent but not yet echoed, so that after stdin ends
	// (echo hi | wasmchannel chat) the client waits for its acknowledgements.
	amu     sync.Mutex
	unacked map[string]bool
	acked   chan struct{}
	done    chan struct{} // closed when the socket's reader ends
}

// print writes every packet the server sends as a JSON line until the
// socket closes, and marks echoed messages acknowledged.
func (s *chatSession) print(stdout, stderr io.Writer) {
	defer close(s.done)
	dec := codec.NewGo()
	enc := json.NewEncoder(stdout)
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				fmt.Fprintln(stderr, "chat: connection closed:", err)
			}
			return
		}
		p, err := dec.Decode(data, 1<<20)
		if err != nil {
			fmt.Fprintln(stderr, "chat: undecodable packet from server:", err)
			continue
		}
		if p.Kind == codec.KindMessage && p.MessageID != nil {
			s.ack(*p.MessageID)
		}
		_ = enc.Encode(toPacketJSON(p))
	}
}

func toPacketJSON(p codec.Packet) packetJSON {
	out := packetJSON{Kind: p.Kind.String(), MessageID: p.MessageID, UserID: p.UserID, Payload: string(p.Payload)}
	if p.Reaction != nil {
		r := uint32(*p.Reaction)
		out.Reaction = &r
	}
	return out
}

func (s *chatSession) ack(id string) {
	s.amu.Lock()
	delete(s.unacked, id)
	s.amu.Unlock()
	select {
	case s.acked <- struct{}{}:
	default:
	}
}

// sendLines sends each non-empty line of in as a Message with a fresh id,
// until in ends or a write fails.
func (s *chatSession) sendLines(in io.Reader, stderr io.Writer) error {
	enc := codec.NewGo()
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		var id [8]byte
		_, _ = rand.Read(id[:])
		mid := "cli-" + hex.EncodeToString(id[:])
		data, err := enc.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &mid, Payload: []byte(line)})
		if err != nil {
			fmt.Fprintln(stderr, "chat:", err)
			continue
		}
		s.amu.Lock()
		s.unacked[mid] = true
		s.amu.Unlock()
		if err := s.write(websocket.BinaryMessage, data); err != nil {
			return err
		}
	}
	return nil
}

func (s *chatSession) write(kind int, data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.ws.WriteMessage(kind, data)
}

// leave waits up to timeout for the acknowledgements, says goodbye and
// waits for the reader to end.
func (s *chatSession) leave(timeout time.Duration) {
	waitAcks(&s.amu, s.unacked, s.acked, s.done, timeout)
	_ = s.write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	<-s.done
}

// waitAcks waits until every sent message has been echoed, the connection
// ends, or timeout passes.
func waitAcks(mu *sync.Mutex, unacked map[string]bool, acked, done <-chan struct{}, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		mu.Lock()
		n := len(unacked)
		mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-acked:
		case <-done:
			return
		case <-deadline:
			return
		}
	}
}
