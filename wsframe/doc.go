// Package wsframe owns the write side of the server's WebSocket sockets:
// it frames a broadcast once and writes each socket's queued frames in
// batches, one writev and one write deadline per batch, with pings, pongs
// and the close frame only ever between frames.
//
// Why: at saturation three quarters of the server's CPU went to one
// write(2) per frame per socket through gorilla's WritePreparedMessage,
// and another twentieth to SetWriteDeadline per frame (issue 17).
//
// What stays gorilla's: the handshake, reading, the read limit and pong
// handling. What is wsframe's: every byte written after the handshake.
// Upgrade wraps the hijacked socket, so even the close frame gorilla sends
// by itself (read limit, protocol error) goes through Conn; gorilla's data
// write path is refused with ErrForeignWrite. Conn overrides gorilla's
// ping and close handlers; callers must not set them again.
//
// The wire does not change: Binary builds exactly the frame gorilla sends
// for a server connection without compression (one final, unmasked binary
// frame per packet; TestFramesMatchGorilla checks it byte for byte).
//
// How writes are serialised: the socket is a one-slot channel. The
// writer goroutine takes it for each batch. Pings, pongs and the close
// frame are recorded in Conn and written by whoever holds the socket, in
// front of the next batch or right after the current one, so a reader
// answering a ping never waits for a batch, and a Close never blocks its
// caller. After the close frame nothing else is written; the TCP
// connection is half-closed and then closed once the peer answers or
// Linger passes.
//
// Integrating with hub and handlers (issue 17, after issue 16 lands):
//
//  1. hub: add an optional interface next to Transport,
//     BatchTransport{ WriteFrames([]*Frame) error }, and in
//     Conn.writeLoop call it with the whole drained batch when the
//     transport has it, instead of WriteFrame per frame.
//  2. handlers/ws.go: replace up.Upgrade with wsframe.Upgrade(&up, w, r,
//     nil, wsframe.DefaultConfig()); keep ws := fc.WS() for the read loop
//     (SetReadLimit, SetReadDeadline, SetPongHandler, ReadMessage).
//  3. wsTransport holds the *wsframe.Conn and a reusable [][]byte:
//     WriteFrames maps each hub.Frame to
//     f.Prepared(func(b []byte) any { return wsframe.Binary(b) }).([]byte)
//     and calls fc.WriteFrames; WriteFrame is the one-frame case; Close
//     is fc.Close(code, reason); startPinger becomes
//     fc.StartPinger(pingPeriod).
//  4. Keep the Upgrader's WriteBufferPool: gorilla never draws from it
//     now, but without it gorilla keeps the hijacked 4 KB write buffer
//     for every socket. Drop writeWait (DefaultWriteWait is the same
//     10 s) and the ping/close code that used WriteControl.
//
// When not to use it: a client connection (its frames are masked per
// socket), or permessage-deflate (frames here are never compressed).
package wsframe
