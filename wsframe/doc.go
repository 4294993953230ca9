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
// How hub and handlers use it: handlers/ws.go upgrades with Upgrade and
// reads through WS(); its transport maps each hub.Frame to Binary once per
// broadcast (Frame.Prepared) and hands a socket's drained queue to
// WriteFrames from the socket's writer goroutine, which the hub runs only
// while frames are queued.
//
// Memory per idle socket: Upgrade gives gorilla a DefaultReadBuffer of
// 512 bytes instead of letting it keep net/http's 4 KB reader, and an
// empty write buffer pool so that it keeps no write buffer; a batch
// borrows its iovecs from a pool.
//
// When not to use it: a client connection (its frames are masked per
// socket), or permessage-deflate (frames here are never compressed).
package wsframe
