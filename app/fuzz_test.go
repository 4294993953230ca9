package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// FuzzRoomPackets (issue 7, item 3) sends arbitrary bytes from an
// authenticated client into a room of a real server (WASM codec, SQLite
// file, real sockets) while a second user watches the room, and checks:
//
//   - the server survives and keeps the sender's socket open (a frame under
//     the size limit never costs the connection);
//   - the watcher only ever receives packets that decode strictly and that
//     the server made: OnlineUsers, Messages and Reactions stamped with the
//     sender's id and, for Messages, already stored byte for byte, Typing
//     with a JSON payload; never a notice (those go to the sender only),
//     never a Delete;
//   - the database stays sound: an integrity check passes, and every stored
//     message belongs to the sender, has a valid id and payload, and
//     re-encodes to a packet that decodes strictly.
//
// The first input byte picks how the rest is sent: raw binary or text
// frames, or packets built from it (with a correct crc around a fuzzed LZ4
// frame, or fully encoded), optionally sent twice or followed by a reaction.
func FuzzRoomPackets(f *testing.F) {
	seedRoomPackets(f)
	r := newFuzzRoom(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		r.iteration(t, mode, data)
	})
}

// Fuzz input modes (mode & 3), and flags.
const (
	modeBinary    = 0 // data as one binary frame
	modeText      = 1 // data as one text frame
	modeFramed    = 2 // a packet around data as its (fuzzed) LZ4 frame, crc correct
	modeEncoded   = 3 // a packet encoded properly from fields read out of data
	flagTwice     = 0x10
	flagReaction  = 0x20
	flagAsWatcher = 0x40 // user_id set to the watcher's id
	fuzzRoomName  = "fuzz"
	maxFuzzFrame  = 60 << 10 // under the 64 KiB frame limit
)

func seedRoomPackets(f *testing.F) {
	enc := codec.NewGo()
	add := func(mode byte, p codec.Packet) {
		// Fields as modeEncoded reads them.
		var b bytes.Buffer
		b.WriteByte(byte(p.Kind))
		b.WriteByte(0)
		if p.Reaction != nil {
			b.WriteByte(byte(*p.Reaction) + 1)
		} else {
			b.WriteByte(0)
		}
		mid := ""
		if p.MessageID != nil {
			mid = *p.MessageID
			b.WriteByte(byte(len(mid)) + 1)
		} else {
			b.WriteByte(0)
		}
		b.WriteByte(0)
		b.WriteString(mid)
		b.Write(p.Payload)
		f.Add(mode, b.Bytes())
	}
	add(modeEncoded, text("seed-1", "hello"))
	add(modeEncoded|flagTwice, text("seed-2", "twice"))
	add(modeEncoded|flagReaction, text("seed-3", "react to me"))
	add(modeEncoded|flagAsWatcher, text("seed-4", "pretending to be the watcher"))
	add(modeEncoded, codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str("seed-1"), Reaction: codec.ReactionPtr(codec.ReactionHeart)})
	add(modeEncoded, codec.Packet{Kind: codec.KindReaction, Reaction: codec.ReactionPtr(codec.ReactionLike), Payload: []byte("seed-1")})
	// An older client's Reaction naming its message in the payload.
	add(modeEncoded, codec.Packet{Kind: codec.KindReaction, Reaction: codec.ReactionPtr(codec.ReactionLike), Payload: bytes.Repeat([]byte{1}, 600)})
	add(modeEncoded, codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{"isTyping":true,"timestamp":1730000000000}`)})
	add(modeEncoded, codec.Packet{Kind: codec.KindTyping, Payload: []byte(`{"isTyping":`)})
	add(modeEncoded, codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("99")})
	add(modeEncoded, codec.Packet{Kind: codec.KindDelete, MessageID: codec.Str("seed-1")})
	add(modeEncoded, codec.Packet{Kind: codec.KindJoined})
	add(modeEncoded, text(string(bytes.Repeat([]byte("i"), 200)), "id too long"))
	add(modeEncoded, text("", "empty id"))
	add(modeEncoded, text("seed-5", ""))
	good, _ := enc.Encode(text("seed-raw", "raw"))
	f.Add(byte(modeBinary), good)
	f.Add(byte(modeText), good)
	f.Add(byte(modeText), []byte(`{"type":"message","text":"hi"}`))
	f.Add(byte(modeBinary), []byte{})
	// A fuzzed frame after a valid LZ4 frame header.
	f.Add(byte(modeFramed), []byte("\x00\x00\x00\x04\x22\x4d\x18\x60\x40\x82\x05\x00\x00\x80hello\x00\x00\x00\x00"))
	f.Add(byte(modeFramed), []byte("\x00\x00\x00\x04\x22\x4d\x18\x60\x40\x82\x08\x00\x00\x00\x1fa\x01\x00\xff\xff"))
	// Golden packets, valid and malformed, as raw frames.
	for i, file := range []string{"../testdata/golden/packets.jsonl", "../testdata/golden/malformed.jsonl"} {
		vs, err := corpus.LoadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for j, v := range vs {
			if j%(8+8*i) == 0 && len(v.Packet) <= maxFuzzFrame {
				f.Add(byte(modeBinary), v.Packet)
			}
		}
	}
}

// fuzzRoom is the server and the two sockets shared by all iterations of
// one fuzzing process.
type fuzzRoom struct {
	app      *app.App
	attacker *websocket.Conn
	atkID    string
	watchID  string
	enc      *codec.Go
	n        int
	prefix   string
	stalled  bool

	mu         sync.Mutex
	violations []string
	watched    []codec.Packet // Messages and Reactions the watcher got
	echoed     []codec.Packet // stamped Messages the attacker got
	barrier    chan string
	reacted    chan string
	atkErr     error
	watchErr   error
}

func newFuzzRoom(f *testing.F) *fuzzRoom {
	dir := fuzzDir(f)
	a, err := app.New(context.Background(), app.Config{
		DBPath: filepath.Join(dir, "fuzz.db"), Codec: "wasm", Secret: "fuzz-secret-of-at-least-32-bytes-long",
		AuthScrypt: &cheapScrypt, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			f.Errorf("shutdown: %v", err)
		}
		<-served
	})
	base := "http://" + ln.Addr().String()
	r := &fuzzRoom{app: a, enc: codec.NewGo(), barrier: make(chan string, 16), reacted: make(chan string, 16), prefix: fmt.Sprintf("barrier-%d-", time.Now().UnixNano())}
	var atkToken, watchToken string
	r.atkID, atkToken = fuzzSignUp(f, base, "attacker")
	r.watchID, watchToken = fuzzSignUp(f, base, "watcher")
	dial := func(token string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws/"+fuzzRoomName, http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { ws.Close() })
		return ws
	}
	watcher := dial(watchToken)
	r.attacker = dial(atkToken)
	go r.watch(watcher)
	go r.listen(r.attacker)
	return r
}

// fuzzDir is where the fuzzing database lives: /dev/shm when there is one,
// so the commit in every iteration costs no disk flush. Fuzzing workers are
// killed when the time is up, before their cleanups run, so each directory
// carries its process id and the ones of dead processes are removed here.
func fuzzDir(f *testing.F) string {
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		return f.TempDir()
	}
	old, _ := filepath.Glob("/dev/shm/wasmchannel-fuzz-*")
	for _, d := range old {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "wasmchannel-fuzz-%d-", &pid); err == nil && pid > 0 &&
			errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
	d, err := os.MkdirTemp("/dev/shm", fmt.Sprintf("wasmchannel-fuzz-%d-", os.Getpid()))
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func fuzzSignUp(f *testing.F, base, name string) (id, token string) {
	body := fmt.Sprintf(`{"name":%q,"email":"%s@example.com","password":"fuzz password"}`, name, name)
	resp, err := http.Post(base+"/api/auth/sign-up/email", "application/json", bytes.NewBufferString(body))
	if err != nil {
		f.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string
		User  struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		f.Fatalf("sign-up %s: %d %v", name, resp.StatusCode, err)
	}
	return out.User.ID, out.Token
}

func (r *fuzzRoom) violate(format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// watch reads the watcher's socket and checks every packet on arrival.
func (r *fuzzRoom) watch(ws *websocket.Conn) {
	dec := codec.NewGo()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			r.mu.Lock()
			r.watchErr = err
			r.mu.Unlock()
			return
		}
		p, err := dec.Decode(data, 999)
		if err != nil {
			r.violate("watcher got an undecodable packet %x: %v", data, err)
			continue
		}
		uid := ""
		if p.UserID != nil {
			uid = *p.UserID
		}
		switch {
		case notice(p):
			r.violate("watcher got a notice meant for the sender: %q", p.Payload)
		case p.Kind == codec.KindOnlineUsers:
			n, err := strconv.Atoi(string(p.Payload))
			if err != nil || n < 1 || n > 2 || p.MessageID != nil || p.UserID != nil || p.Reaction != nil {
				r.violate("watcher got a bad OnlineUsers %+v %q", p, p.Payload)
			}
		case p.Kind == codec.KindMessage:
			if uid != r.atkID || p.MessageID == nil || len(*p.MessageID) == 0 || len(*p.MessageID) > 128 || len(p.Payload) == 0 || p.Reaction != nil {
				r.violate("watcher got an unstamped or invalid Message %+v %q", p, p.Payload)
			}
			r.mu.Lock()
			r.watched = append(r.watched, p)
			r.mu.Unlock()
		case p.Kind == codec.KindReaction:
			if uid != r.atkID || p.MessageID == nil || p.Reaction == nil || *p.Reaction < codec.ReactionLike || len(p.Payload) != 0 {
				r.violate("watcher got an invalid Reaction %+v %q", p, p.Payload)
			}
			r.mu.Lock()
			r.watched = append(r.watched, p)
			r.mu.Unlock()
		case p.Kind == codec.KindTyping:
			if uid != r.atkID || p.MessageID != nil || !json.Valid(p.Payload) {
				r.violate("watcher got an invalid Typing %+v %q", p, p.Payload)
			}
		default:
			r.violate("watcher got a %s packet %+v", p.Kind, p)
		}
	}
}

// listen reads the attacker's socket: echoes and barrier acknowledgements.
func (r *fuzzRoom) listen(ws *websocket.Conn) {
	dec := codec.NewGo()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			r.mu.Lock()
			r.atkErr = err
			r.mu.Unlock()
			close(r.barrier)
			close(r.reacted)
			return
		}
		p, err := dec.Decode(data, 999)
		if err != nil {
			r.violate("sender got an undecodable packet %x: %v", data, err)
			continue
		}
		if p.Kind == codec.KindReaction && p.MessageID != nil && strings.HasPrefix(*p.MessageID, r.prefix) {
			r.reacted <- *p.MessageID
			continue
		}
		if p.Kind != codec.KindMessage || p.MessageID == nil {
			continue
		}
		if p.UserID == nil || *p.UserID != r.atkID {
			r.violate("sender got a Message not stamped with its id: %+v", p)
		} else {
			r.mu.Lock()
			r.echoed = append(r.echoed, p)
			r.mu.Unlock()
		}
		if id := *p.MessageID; strings.HasPrefix(id, r.prefix) {
			r.barrier <- id
		}
	}
}

// frames turns one fuzz input into the frames to send.
func (r *fuzzRoom) frames(mode byte, data []byte) (frames [][]byte, text bool, ref string) {
	if len(data) > maxFuzzFrame {
		data = data[:maxFuzzFrame]
	}
	switch mode & 3 {
	case modeBinary:
		return [][]byte{data}, false, ""
	case modeText:
		return [][]byte{data}, true, ""
	}
	// Fields: kind, reaction (0 = none), message_id length+1 (0 = none),
	// user_id length+1, then the ids, then the payload or frame.
	if len(data) < 5 {
		return [][]byte{data}, false, ""
	}
	p := codec.Packet{Kind: codec.Kind(data[0] % 6)}
	if data[2] > 0 {
		p.Reaction = codec.ReactionPtr(codec.Reaction((data[2] - 1) % 5))
	}
	midLen, uidLen, rest := int(data[3]), int(data[4]), data[5:]
	if midLen > 0 {
		n := min(midLen-1, len(rest))
		p.MessageID = codec.Str(string(rest[:n]))
		rest = rest[n:]
	}
	if uidLen > 0 {
		n := min(uidLen-1, len(rest))
		p.UserID = codec.Str(string(rest[:n]))
		rest = rest[n:]
	}
	if mode&flagAsWatcher != 0 {
		p.UserID = codec.Str(r.watchID)
	}
	var pkt []byte
	var err error
	if mode&3 == modeFramed {
		pkt, err = codec.AppendEnvelope(nil, p, rest, codec.FrameCRC(rest))
	} else {
		p.Payload = rest
		pkt, err = r.enc.Encode(p)
	}
	if err != nil { // ids that are not UTF-8: send the bytes as they are
		return [][]byte{data}, false, ""
	}
	frames = [][]byte{pkt}
	if mode&flagTwice != 0 {
		frames = append(frames, pkt)
	}
	if p.MessageID != nil {
		ref = *p.MessageID
	}
	if mode&flagReaction != 0 && ref != "" {
		react, _ := r.enc.Encode(codec.Packet{Kind: codec.KindReaction, MessageID: &ref, Reaction: codec.ReactionPtr(codec.ReactionStar)})
		frames = append(frames, react)
	}
	return frames, false, ref
}

func (r *fuzzRoom) iteration(t *testing.T, mode byte, data []byte) {
	r.mu.Lock()
	err := r.atkErr
	r.mu.Unlock()
	if err != nil {
		t.Fatalf("the sender's socket was closed by an earlier input: %v", err)
	}
	if r.stalled {
		t.Fatal("the room stopped answering on an earlier input")
	}
	frames, isText, _ := r.frames(mode, data)
	typ := websocket.BinaryMessage
	if isText {
		typ = websocket.TextMessage
	}
	_ = r.attacker.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, fr := range frames {
		if err := r.attacker.WriteMessage(typ, fr); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	// A barrier: the room handles packets in order and commits in order,
	// so once this Message is echoed, everything before it was handled.
	r.n++
	id := r.prefix + strconv.Itoa(r.n)
	bar, _ := r.enc.Encode(text(id, "barrier"))
	if err := r.attacker.WriteMessage(websocket.BinaryMessage, bar); err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	timeout := time.After(10 * time.Second)
wait:
	for {
		select {
		case got, ok := <-r.barrier:
			if !ok {
				r.mu.Lock()
				err := r.atkErr
				r.mu.Unlock()
				t.Fatalf("the server closed the sender's socket: %v", err)
			}
			if got == id {
				break wait
			}
		case <-timeout:
			r.stalled = true
			t.Fatal("the room stopped answering")
		}
	}
	// A second barrier through the room's serial database worker, which
	// answers reactions (and their notices) after the Message path.
	react, _ := r.enc.Encode(codec.Packet{Kind: codec.KindReaction, MessageID: &id, Reaction: codec.ReactionPtr(codec.ReactionLike)})
	if err := r.attacker.WriteMessage(websocket.BinaryMessage, react); err != nil {
		t.Fatalf("write barrier reaction: %v", err)
	}
	timeout = time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case got, ok := <-r.reacted:
			if !ok {
				t.Fatal("the server closed the sender's socket")
			}
			done = got == id
		case <-timeout:
			r.stalled = true
			t.Fatal("the room stopped answering reactions")
		}
	}
	r.mu.Lock()
	violations, watched, echoed, watchErr := r.violations, r.watched, r.echoed, r.watchErr
	r.violations, r.watched, r.echoed = nil, nil, nil
	r.mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	if watchErr != nil {
		t.Fatalf("the watcher's socket ended: %v", watchErr)
	}
	// What anyone was shown as a Message is stored as shown.
	ctx := context.Background()
	for _, p := range append(watched, echoed...) {
		m, err := r.app.DB.MessageByRef(ctx, fuzzRoomName, *p.MessageID)
		if err != nil {
			t.Errorf("%s %q was delivered but is not stored: %v", p.Kind, *p.MessageID, err)
			continue
		}
		if p.Kind == codec.KindMessage && (m.UserID != r.atkID || !bytes.Equal(m.Payload, p.Payload)) {
			t.Errorf("message %q delivered as (%s, %q), stored as (%s, %q)", *p.MessageID, *p.UserID, p.Payload, m.UserID, m.Payload)
		}
	}
	if r.n%64 == 1 {
		r.checkStore(t)
	}
}

// checkStore checks the whole room in the database.
func (r *fuzzRoom) checkStore(t *testing.T) {
	ctx := context.Background()
	if err := integrityCheck(ctx, r.app.DB); err != nil {
		t.Fatal(err)
	}
	dec := codec.NewGo()
	cur := chat.Cursor{}
	for pages := 0; pages < 1000; pages++ {
		msgs, err := r.app.DB.History(ctx, fuzzRoomName, cur, chat.MaxHistoryLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.UserID != r.atkID || m.Kind != int(codec.KindMessage) || m.DeletedAt != nil {
				t.Errorf("stored message %q: user %s kind %d deleted %v", m.RefID, m.UserID, m.Kind, m.DeletedAt)
			}
			if len(m.RefID) == 0 || len(m.RefID) > 128 || !utf8.ValidString(m.RefID) || len(m.Payload) == 0 || len(m.Payload) > 999 {
				t.Errorf("stored message %q has an invalid id or a %d-byte payload", m.RefID, len(m.Payload))
			}
			for _, rc := range m.Reactions {
				if rc.Kind < 1 || rc.Kind > 4 || rc.Count != len(rc.Users) || rc.Count != 1 || rc.Users[0] != r.atkID {
					t.Errorf("stored message %q has reactions %+v", m.RefID, m.Reactions)
				}
			}
			ref, uid := m.RefID, m.UserID
			pkt, err := r.enc.Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &ref, UserID: &uid, Payload: m.Payload})
			if err != nil {
				t.Errorf("stored message %q does not encode: %v", m.RefID, err)
				continue
			}
			if p, err := dec.Decode(pkt, 999); err != nil || *p.MessageID != ref || !bytes.Equal(p.Payload, m.Payload) {
				t.Errorf("stored message %q does not round-trip: %v", m.RefID, err)
			}
		}
		if len(msgs) < chat.MaxHistoryLimit {
			return
		}
		cur = chat.Cursor{BeforeRef: msgs[len(msgs)-1].RefID}
	}
}
