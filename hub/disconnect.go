package hub

// Disconnect is why the server closes a socket: a WebSocket close code
// (RFC 6455 § 7.4.1) and the reason sent in the close frame. The hub and
// handlers/ws.go close sockets only with these values.
type Disconnect struct {
	Code   int
	Reason string
}

// The close vocabulary.
var (
	// DisconnectShutdown: the server is stopping, or the socket is leaving.
	DisconnectShutdown = Disconnect{Code: 1001, Reason: "server shutting down"}
	// DisconnectSessionEnded: the session was signed out, expired or deleted.
	DisconnectSessionEnded = Disconnect{Code: 1008, Reason: "session ended"}
	// DisconnectTooBig: a frame above the read limit.
	DisconnectTooBig = Disconnect{Code: 1009, Reason: "frame too large"}
	// DisconnectSlow: the client's send queue overflowed because it reads
	// too slowly, or the room could not be served now; retry later.
	DisconnectSlow = Disconnect{Code: 1013, Reason: "send queue overflow: client reads too slowly"}
	// DisconnectUnavailable: the room could not take the socket now.
	DisconnectUnavailable = Disconnect{Code: 1013, Reason: "room unavailable; retry later"}
	// DisconnectViolations: too many refused frames in a short window.
	DisconnectViolations = Disconnect{Code: 1008, Reason: "too many invalid or rate-limited packets"}
)

// Closes of sockets whose peer is already gone, so only the code matters.
var (
	disconnectLeaving     = Disconnect{Code: 1001, Reason: "leaving"}
	disconnectWriteFailed = Disconnect{Code: 1001, Reason: "write failed"}
)
