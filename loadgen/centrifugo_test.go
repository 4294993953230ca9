package loadgen

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example token of RFC 7519's HS256 family as jwt.io publishes it:
// header {"alg":"HS256","typ":"JWT"}, the secret "your-256-bit-secret".
func TestSignHS256KnownToken(t *testing.T) {
	claims := `{"sub":"1234567890","name":"John Doe","iat":1516239022}`
	want := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ." +
		"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	if got := SignHS256([]byte("your-256-bit-secret"), []byte(claims)); got != want {
		t.Errorf("SignHS256 =\n%s\nwant\n%s", got, want)
	}
}

// decodeAll collects the events of one frame.
func decodeAll(t *testing.T, w Wire, frame string) []Event {
	t.Helper()
	out, err := w.Decode([]byte(frame), nil)
	if err != nil {
		t.Fatalf("Decode(%q): %v", frame, err)
	}
	return out
}

func TestCentrifugoWire(t *testing.T) {
	w := Centrifugo{}.NewWire("room-1")
	for _, text := range []string{"t=1 q=2 plain words", `t=1 q=2 "quoted" back\slash tab` + "\t"} {
		cmd, err := w.Encode("run.0.1.2", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			ID      int `json:"id"`
			Publish struct {
				Channel string `json:"channel"`
				Data    cfData `json:"data"`
			} `json:"publish"`
		}
		if err := json.Unmarshal(cmd, &parsed); err != nil {
			t.Fatalf("Encode(%q) is not JSON: %s: %v", text, cmd, err)
		}
		if parsed.ID == 0 || parsed.Publish.Channel != "room-1" || parsed.Publish.Data.ID != "run.0.1.2" || parsed.Publish.Data.Text != text {
			t.Errorf("Encode(%q) = %s", text, cmd)
		}
		// A push as Centrifugo writes it, with our data verbatim inside.
		data, _ := json.Marshal(parsed.Publish.Data)
		push := `{"push":{"channel":"room-1","pub":{"data":` + string(data) + `,"info":{"user":"u","client":"c"}}}}`
		evs := decodeAll(t, w, push+"\n"+`{"id":7,"publish":{}}`)
		if len(evs) != 2 || evs[0].Kind != EventMessage || string(evs[0].ID) != "run.0.1.2" || string(evs[0].Payload) != text || evs[1].Kind != EventOther {
			t.Errorf("Decode of %s = %+v", push, evs)
		}
	}
	evs := decodeAll(t, w, `{"push":{"channel":"room-2","pub":{"data":{"id":"run.1.0.0","text":"t=1 q=0 x"}}}}`)
	if len(evs) != 1 || evs[0].Kind != EventMessage || evs[0].ID != nil {
		t.Errorf("another channel's publication = %+v, want a message with no id (foreign)", evs)
	}
	evs = decodeAll(t, w, "{}")
	if len(evs) != 1 || string(evs[0].Reply) != "{}" {
		t.Errorf("ping = %+v, want a {} reply", evs)
	}
	evs = decodeAll(t, w, `{"id":3,"error":{"code":103,"message":"permission denied"}}`)
	if len(evs) != 1 || evs[0].Kind != EventNotice || !strings.Contains(string(evs[0].Payload), "permission denied") {
		t.Errorf("error reply = %+v, want a notice", evs)
	}
	if _, err := w.Decode([]byte(`{"push":`), nil); err == nil {
		t.Error("a broken frame decoded without error")
	}
}

func TestCentrifugoConfig(t *testing.T) {
	b, err := CentrifugoConfig("127.0.0.1", 8000, "s3cret", "k3y")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Client struct {
			Token struct {
				HMAC string `json:"hmac_secret_key"`
			} `json:"token"`
		} `json:"client"`
		Channel struct {
			NoNS struct {
				Sub bool `json:"allow_subscribe_for_client"`
				Pub bool `json:"allow_publish_for_client"`
			} `json:"without_namespace"`
		} `json:"channel"`
		Engine struct {
			Type string `json:"type"`
		} `json:"engine"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Client.Token.HMAC != "s3cret" || !cfg.Channel.NoNS.Sub || !cfg.Channel.NoNS.Pub || cfg.Engine.Type != "memory" {
		t.Errorf("config %s", b)
	}
}

// centrifugoBin is the binary `make bench-peer` builds, or
// $CENTRIFUGO_BIN; the test skips when neither exists.
func centrifugoBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		bin = filepath.Join("..", "build", "peer", "centrifugo")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("Centrifugo not built (%v): run `make bench-peer` to include the peer in the smoke run", err)
	}
	return bin
}

// TestSmokeCentrifugo proves the peer path end to end in seconds: a real
// Centrifugo child, the same generator and accounting, nothing lost, and
// the idle test's memory reading.
func TestSmokeCentrifugo(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke run skipped with -short")
	}
	bin := centrifugoBin(t)
	ctx := context.Background()
	child, proto, err := StartCentrifugo(ctx, bin, t.TempDir(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Stop(10 * time.Second)
	cfg := Config{
		URL: child.URL, Label: "centrifugo", Protocol: proto,
		Rooms: 2, Clients: 12, Senders: 3, Rate: 0, Window: 4, Payload: 200,
		Duration: 1500 * time.Millisecond, Stats: ProcSource{Pid: child.Pid},
	}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%v; server output:\n%s", err, child.Output())
	}
	checkClean(t, r, cfg.Clients)
	if r.ServerCPUS <= 0 || r.ServerRSSMB <= 0 {
		t.Errorf("no server CPU or RSS read: %+v", r)
	}
	idle, err := Run(ctx, Config{
		URL: child.URL, Label: "centrifugo", Protocol: proto, Idle: 60, IdleRoomSize: 25,
		Settle: 3 * time.Second, settleStep: 200 * time.Millisecond, Stats: ProcSource{Pid: child.Pid},
	})
	if err != nil {
		t.Fatal(err)
	}
	if idle.IdleConns != 60 || idle.RSSIdleMB <= 0 {
		t.Errorf("idle result %+v", idle)
	}
	if err := child.Stop(10 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
}
