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
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("url", "http://127.0.0.1:8080", "server base URL")
	room := fs.String("room", "room", "room to join")
	token := fs.String("token", os.Getenv("WASMCHANNEL_TOKEN"), "session token from sign-up or sign-in (or WASMCHANNEL_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *token == "" {
		fmt.Fprintln(stderr, "chat: --token is required (the \"token\" field of a sign-up or sign-in reply)")
		return 2
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fmt.Fprintf(stderr, "chat: --url %q: want http://host:port or https://host:port\n", *server)
		return 2
	}
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = "/ws/" + url.PathEscape(*room)
	ws, resp, err := websocket.DefaultDialer.Dial(u.String(), http.Header{"Authorization": {"Bearer " + *token}})
	if err != nil {
		if resp != nil {
			fmt.Fprintf(stderr, "chat: %s: %s\n", u, resp.Status)
		} else {
			fmt.Fprintf(stderr, "chat: %s: %v\n", u, err)
		}
		return 1
	}
	defer ws.Close()
	fmt.Fprintf(stderr, "joined %s; type a line and press enter to send it, Ctrl-D to leave\n", *room)

	var wmu sync.Mutex
	// unacked holds ids sent but not yet echoed, so that after stdin ends
	// (echo hi | wasmchannel chat) the client waits for its acknowledgements.
	var amu sync.Mutex
	unacked := map[string]bool{}
	acked := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		dec := codec.NewGo()
		enc := json.NewEncoder(stdout)
		for {
			_, data, err := ws.ReadMessage()
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
				amu.Lock()
				delete(unacked, *p.MessageID)
				amu.Unlock()
				select {
				case acked <- struct{}{}:
				default:
				}
			}
			out := packetJSON{Kind: p.Kind.String(), MessageID: p.MessageID, UserID: p.UserID, Payload: string(p.Payload)}
			if p.Reaction != nil {
				r := uint32(*p.Reaction)
				out.Reaction = &r
			}
			_ = enc.Encode(out)
		}
	}()

	enc := codec.NewGo()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
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
		amu.Lock()
		unacked[mid] = true
		amu.Unlock()
		wmu.Lock()
		err = ws.WriteMessage(websocket.BinaryMessage, data)
		wmu.Unlock()
		if err != nil {
			fmt.Fprintln(stderr, "chat: send:", err)
			return 1
		}
	}
	waitAcks(&amu, unacked, acked, done, 5*time.Second)
	wmu.Lock()
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	wmu.Unlock()
	<-done
	return 0
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
