package loadgen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Centrifugo is the protocol of a Centrifugo v6 server, the peer bench load
// compares wasmchannel with: its JSON protocol over WebSocket, users named
// in HS256 connection tokens, one channel per room with client publish
// allowed. Messages are publications whose data is {"id","text"}.
type Centrifugo struct {
	// Secret is the server's client.token.hmac_secret_key.
	Secret []byte
}

// Credentials mints one connection token per user; nothing is asked of the
// server, as Centrifugo trusts tokens signed with its secret.
func (c Centrifugo) Credentials(_ context.Context, _, run string, n int) ([]string, error) {
	exp := time.Now().Add(24 * time.Hour).Unix()
	out := make([]string, n)
	for i := range out {
		claims, err := json.Marshal(map[string]any{"sub": fmt.Sprintf("bench-%s-%d", run, i), "exp": exp})
		if err != nil {
			return nil, fmt.Errorf("token claims: %w", err)
		}
		out[i] = SignHS256(c.Secret, claims)
	}
	return out, nil
}

// Join dials /connection/websocket, then connects with the token and
// subscribes to the room's channel in one frame, and returns once the
// subscription is confirmed: unlike wasmchannel, Centrifugo tells a client
// when it is in.
func (c Centrifugo) Join(ctx context.Context, d *Dialer, wsBase, room, cred string) (*Socket, error) {
	ws, err := dial(ctx, d, wsBase+"/connection/websocket", "")
	if err != nil {
		return nil, err
	}
	cmd := fmt.Sprintf(`{"id":1,"connect":{"token":%q,"name":"bench"}}`+"\n"+`{"id":2,"subscribe":{"channel":%q}}`, cred, room)
	if err := ws.WriteMessage(opText, []byte(cmd), time.Now().Add(10*time.Second)); err != nil {
		ws.Close("")
		return nil, fmt.Errorf("centrifugo connect: %w", err)
	}
	err = readReply(ws, time.Now().Add(30*time.Second), func(frame []byte) (bool, error) {
		subscribed := false
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			var r cfReply
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &r) != nil {
				continue
			}
			if r.Error != nil {
				return false, fmt.Errorf("centrifugo refused command %d: %d %s", r.ID, r.Error.Code, r.Error.Message)
			}
			subscribed = subscribed || r.ID == 2
		}
		return subscribed, nil
	})
	if err != nil {
		ws.Close("")
		return nil, fmt.Errorf("join %s: %w", room, err)
	}
	return ws, nil
}

// FrameType is text: the JSON protocol.
func (Centrifugo) FrameType() byte { return opText }

// NewWire returns the JSON wire of a client of room.
func (c Centrifugo) NewWire(room string) Wire { return &cfWire{channel: room} }

// cfReply is the part of a Centrifugo reply or push the generator reads.
type cfReply struct {
	ID    uint32 `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Push *struct {
		Channel string `json:"channel"`
		Pub     *struct {
			Data cfData `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

// cfData is a chat message as the generator publishes it.
type cfData struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

type cfWire struct {
	channel string
	nextID  uint32
}

var cfPong = []byte("{}")

// Encode builds a publish command. The payload is the generator's ASCII
// chat text, so it is written as a JSON string without a marshaller unless
// it holds something that needs escaping.
func (w *cfWire) Encode(id string, payload []byte) ([]byte, error) {
	w.nextID++
	b := make([]byte, 0, len(payload)+len(id)+len(w.channel)+64)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(w.nextID), 10)
	b = append(b, `,"publish":{"channel":`...)
	b = appendJSONString(b, w.channel)
	b = append(b, `,"data":{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, string(payload))
	return append(b, "}}}"...), nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Decode reads one frame: newline-separated replies and pushes, or "{}",
// the server's ping, which wants "{}" back.
func (w *cfWire) Decode(frame []byte, evs []Event) ([]Event, error) {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if bytes.Equal(line, cfPong) {
			evs = append(evs, Event{Kind: EventOther, Reply: cfPong})
			continue
		}
		if ch, id, text, ok := cfFastPush(line); ok {
			if string(ch) != w.channel {
				id = nil // another channel's: foreign
			}
			evs = append(evs, Event{Kind: EventMessage, ID: id, Payload: text})
			continue
		}
		var r cfReply
		if err := json.Unmarshal(line, &r); err != nil {
			return evs, fmt.Errorf("centrifugo frame: %w", err)
		}
		switch {
		case r.Error != nil:
			evs = append(evs, Event{Kind: EventNotice, Payload: []byte(strconv.Itoa(r.Error.Code) + " " + r.Error.Message)})
		case r.Push != nil && r.Push.Pub != nil && r.Push.Channel == w.channel:
			evs = append(evs, Event{Kind: EventMessage, ID: []byte(r.Push.Pub.Data.ID), Payload: []byte(r.Push.Pub.Data.Text)})
		case r.Push != nil && r.Push.Pub != nil:
			evs = append(evs, Event{Kind: EventMessage}) // another channel's: foreign
		default:
			evs = append(evs, Event{Kind: EventOther})
		}
	}
	return evs, nil
}

// cfFastPush reads a publication push of the generator's own messages in
// place, without a JSON decoder or allocation, as careful as the Go codec's
// view decode is for wasmchannel, so the generator's cost per receipt does
// not favour either server. It accepts only the exact shape Centrifugo
// writes, with no escapes in the strings; anything else goes to
// encoding/json.
func cfFastPush(line []byte) (channel, id, text []byte, ok bool) {
	rest, ok := cutPrefix(line, `{"push":{"channel":"`)
	if !ok {
		return nil, nil, nil, false
	}
	if channel, rest, ok = cutJSONString(rest); !ok {
		return nil, nil, nil, false
	}
	if rest, ok = cutPrefix(rest, `,"pub":{"data":{"id":"`); !ok {
		return nil, nil, nil, false
	}
	if id, rest, ok = cutJSONString(rest); !ok {
		return nil, nil, nil, false
	}
	if rest, ok = cutPrefix(rest, `,"text":"`); !ok {
		return nil, nil, nil, false
	}
	if text, rest, ok = cutJSONString(rest); !ok || len(rest) == 0 || rest[0] != '}' {
		return nil, nil, nil, false
	}
	return channel, id, text, true
}

// cutJSONString splits b after the closing quote of a JSON string whose
// opening quote was already cut; ok is false if it holds an escape.
func cutJSONString(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '"')
	if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// SignHS256 returns a compact JWT of claims signed with HMAC-SHA256.
func SignHS256(secret, claims []byte) string {
	enc := base64.RawURLEncoding
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}

// CentrifugoConfig is the configuration bench load runs Centrifugo v6
// with: the memory engine, HS256 connection tokens, client subscribe and
// publish allowed in channels without a namespace, /health for the
// readiness check, and logging only of warnings. Its slow-client rules are
// set to wasmchannel's (handlers/ws.go): a socket write may take 10 s, not
// 1 s, and pings come every 54 s, not 25 s. With Centrifugo's defaults a
// generator reader stalled for a second on the shared machine was
// disconnected and the messages in flight to it counted as lost, which
// wasmchannel would have delivered. The README shows the result.
func CentrifugoConfig(host string, port int, secret, apiKey string) ([]byte, error) {
	cfg := map[string]any{
		"log":         map[string]any{"level": "warn"},
		"http_server": map[string]any{"address": host, "port": port},
		"engine":      map[string]any{"type": "memory"},
		"health":      map[string]any{"enabled": true},
		"http_api":    map[string]any{"key": apiKey},
		"websocket":   map[string]any{"write_timeout": "10s"},
		"client": map[string]any{
			"token":           map[string]any{"hmac_secret_key": secret},
			"allowed_origins": []string{"http://" + net.JoinHostPort(host, strconv.Itoa(port))},
			"ping_interval":   "54s",
			"pong_timeout":    "6s",
		},
		"channel": map[string]any{
			"without_namespace": map[string]any{
				"allow_subscribe_for_client": true,
				"allow_publish_for_client":   true,
			},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("centrifugo config: %w", err)
	}
	return append(b, '\n'), nil
}

// StartCentrifugo runs the Centrifugo binary bin on a free loopback port
// with a fresh secret and a config written into dir, and returns the child
// and the protocol to speak to it.
func StartCentrifugo(ctx context.Context, bin, dir string, ready time.Duration) (*Child, Centrifugo, error) {
	secret, apiKey := randomHex(32), randomHex(16)
	args := func(addr string) ([]string, error) {
		host, portS, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(portS)
		if err != nil {
			return nil, err
		}
		cfg, err := CentrifugoConfig(host, port, secret, apiKey)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "centrifugo-"+portS+".json")
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			return nil, fmt.Errorf("write centrifugo config: %w", err)
		}
		return []string{"--config", path}, nil
	}
	child, err := StartChild(ctx, bin, args, ready)
	if err != nil {
		return nil, Centrifugo{}, fmt.Errorf("centrifugo: %w", err)
	}
	return child, Centrifugo{Secret: []byte(secret)}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
